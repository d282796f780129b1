import type pg from 'pg';
import type { IndexSpec, ViewColumnType, ViewSpec } from '../../domain/viewSpec.js';
import { sqlLiteral } from '../sqlLiteral.js';

const pathLiteral = (segments: readonly string[]) => sqlLiteral(`{${segments.join(',')}}`);

const CAST: Record<ViewColumnType, (segments: readonly string[]) => string> = {
    text: (p) => `(data #>> ${pathLiteral(p)})`,
    integer: (p) => `(data #>> ${pathLiteral(p)})::bigint`,
    real: (p) => `(data #>> ${pathLiteral(p)})::double precision`,
    boolean: (p) => `(data #>> ${pathLiteral(p)})::boolean`,
    timestamp: (p) => `(data #>> ${pathLiteral(p)})::timestamptz`,
    json: (p) => `(data #> ${pathLiteral(p)})`,
};

/** One row per live record of the model: connection_id, id, the typed columns, last_modified_at. */
export function postgresViewSql(schema: string, v: ViewSpec): string {
    const cols = v.columns.map((c) => `${CAST[c.type](c.path)} AS "${c.name}"`);
    const where = [`provider_config_key = ${sqlLiteral(v.providerConfigKey)}`, `model = ${sqlLiteral(v.model)}`, 'deleted_at IS NULL'];
    if (v.variant !== undefined) where.push(`variant = ${sqlLiteral(v.variant)}`);
    return `CREATE VIEW "${schema}"."${v.name}" AS SELECT connection_id, id, ${cols.join(', ')}, last_modified_at FROM "${schema}".nango_records WHERE ${where.join(' AND ')}`;
}

export function postgresIndexSql(schema: string, i: IndexSpec): string {
    return `CREATE INDEX IF NOT EXISTS "${i.name}" ON "${schema}".nango_records (provider_config_key, model, (data #>> ${pathLiteral(i.path)}))`;
}

/** Drops the views and indexes the daemon made that changed or left the config, creates the rest; one transaction. */
export async function applyPostgresViews(client: pg.PoolClient, schema: string, views: readonly ViewSpec[], indexes: readonly IndexSpec[]): Promise<void> {
    const wanted = new Map<string, { kind: 'view' | 'index'; definition: string }>();
    for (const v of views) wanted.set(v.name, { kind: 'view', definition: postgresViewSql(schema, v) });
    for (const i of indexes) wanted.set(i.name, { kind: 'index', definition: postgresIndexSql(schema, i) });
    await client.query('BEGIN');
    try {
        // Daemons starting together apply the same views one at a time.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`nango-mirror-views:${schema}`]);
        const previous = (await client.query<{ name: string; kind: string; definition: string }>('SELECT name, kind, definition FROM nango_mirror_views')).rows;
        const kept = new Set<string>();
        for (const p of previous) {
            if (wanted.get(p.name)?.definition === p.definition) {
                kept.add(p.name);
                continue;
            }
            await client.query(p.kind === 'view' ? `DROP VIEW IF EXISTS "${schema}"."${p.name}"` : `DROP INDEX IF EXISTS "${schema}"."${p.name}"`);
            await client.query('DELETE FROM nango_mirror_views WHERE name = $1', [p.name]);
        }
        for (const [name, w] of wanted) {
            if (kept.has(name)) continue;
            if (w.kind === 'view') await client.query(`DROP VIEW IF EXISTS "${schema}"."${name}"`);
            await client.query(w.definition);
            await client.query('INSERT INTO nango_mirror_views (name, kind, definition) VALUES ($1, $2, $3)', [name, w.kind, w.definition]);
        }
        await client.query('COMMIT');
    } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
    }
}
