import type Database from 'better-sqlite3';
import type { IndexSpec, ViewColumnType, ViewSpec } from '../../domain/viewSpec.js';
import { sqlLiteral } from '../sqlLiteral.js';

/** Back to `$.a.b[0]` for SQLite's json functions. */
function sqliteJsonPath(segments: readonly string[]): string {
    return '$' + segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
}

const CAST: Record<ViewColumnType, (expr: string) => string> = {
    // No CAST: json_extract already yields text for JSON strings, and the bare expression is what
    // a models[].indexes index covers, so filters on the view can use it.
    text: (e) => e,
    integer: (e) => `CAST(${e} AS INTEGER)`,
    real: (e) => `CAST(${e} AS REAL)`,
    // json_extract gives 1/0 for JSON true/false; SQLite has no boolean type.
    boolean: (e) => e,
    // Kept as text: SQLite compares ISO-8601 text in time order.
    timestamp: (e) => `CAST(${e} AS TEXT)`,
    json: (e) => e,
};

/** One row per live record of the model: connection_id, id, the typed columns, last_modified_at. */
export function sqliteViewSql(v: ViewSpec): string {
    const cols = v.columns.map((c) => {
        const extract = `json_extract(data, ${sqlLiteral(sqliteJsonPath(c.path))})`;
        return `${CAST[c.type](extract)} AS "${c.name}"`;
    });
    const where = [`provider_config_key = ${sqlLiteral(v.providerConfigKey)}`, `model = ${sqlLiteral(v.model)}`, 'deleted_at IS NULL'];
    if (v.variant !== undefined) where.push(`variant = ${sqlLiteral(v.variant)}`);
    return `CREATE VIEW "${v.name}" AS SELECT connection_id, id, ${cols.join(', ')}, last_modified_at FROM nango_records WHERE ${where.join(' AND ')}`;
}

export function sqliteIndexSql(i: IndexSpec): string {
    return `CREATE INDEX IF NOT EXISTS "${i.name}" ON nango_records (provider_config_key, model, json_extract(data, ${sqlLiteral(sqliteJsonPath(i.path))}))`;
}

/** Drops every view and index the daemon made before, then creates what the config names, in one transaction. */
export function applySqliteViews(sqlite: Database.Database, views: readonly ViewSpec[], indexes: readonly IndexSpec[]): void {
    const previous = sqlite.prepare('SELECT name, kind, definition FROM nango_mirror_views').all() as Array<{ name: string; kind: string; definition: string }>;
    const wanted = new Map<string, { kind: 'view' | 'index'; definition: string }>();
    for (const v of views) wanted.set(v.name, { kind: 'view', definition: sqliteViewSql(v) });
    for (const i of indexes) wanted.set(i.name, { kind: 'index', definition: sqliteIndexSql(i) });
    sqlite.transaction(() => {
        for (const p of previous) {
            if (wanted.get(p.name)?.definition === p.definition) continue;
            sqlite.exec(p.kind === 'view' ? `DROP VIEW IF EXISTS "${p.name}"` : `DROP INDEX IF EXISTS "${p.name}"`);
            sqlite.prepare('DELETE FROM nango_mirror_views WHERE name = ?').run(p.name);
        }
        const kept = new Set(previous.filter((p) => wanted.get(p.name)?.definition === p.definition).map((p) => p.name));
        for (const [name, w] of wanted) {
            if (kept.has(name)) continue;
            if (w.kind === 'view') sqlite.exec(`DROP VIEW IF EXISTS "${name}"`);
            sqlite.exec(w.definition);
            sqlite.prepare('INSERT INTO nango_mirror_views (name, kind, definition) VALUES (?, ?, ?)').run(name, w.kind, w.definition);
        }
    })();
}
