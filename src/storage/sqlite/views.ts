import type Database from 'better-sqlite3';
import type { GeneratedViewColumn, GeneratedViewSpec, IndexSpec, TypedIndexSpec, ViewColumnType, ViewSpec } from '../../domain/viewSpec.js';
import { quoteIdentifier, sqlLiteral } from '../sqlLiteral.js';
import type { GeneratedViewsApplied } from '../store.js';
import { configRelations, generatedApply, isIndexKind, planRelations, RELATION_COLUMNS, relationParams, SELECT_RELATIONS, type RelationChanges, type RelationOwner, type RelationRow } from '../viewRelations.js';

/** Back to `$.a.b[0]` for SQLite's json functions (config paths: identifiers and array indexes only). */
function sqliteJsonPath(segments: readonly string[]): string {
    return '$' + segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
}

/**
 * The path of one object key, whatever it is: `$.key` for an identifier, else `$."key"` (a dot, a
 * space, an all-digit key: a key, never an array index). SQLite's path syntax has no escape for a
 * `"` inside a quoted key: such a key cannot be addressed (`undefined`; its column reads NULL).
 */
function sqliteKeyPath(key: string): string | undefined {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `$.${key}`;
    return key.includes('"') ? undefined : `$."${key}"`;
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

/** A config view: one row per live record of the model: connection_id, id, the typed columns, last_modified_at. */
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

/**
 * A generated column's expression: the value when its JSON type fits the column, else NULL (never
 * an error). `json_type` is NULL for a missing key, `'null'` for a JSON null. A typed-column index
 * is on this very expression (sqliteTypedIndexSql), so keep the two one function.
 */
export function sqliteColumnExpression(column: Pick<GeneratedViewColumn, 'path' | 'type'>): string {
    const path = sqliteKeyPath(column.path[0] ?? '');
    if (path === undefined || column.path.length !== 1) return 'NULL';
    const p = sqlLiteral(path);
    const value = `json_extract(data, ${p})`;
    const type = `json_type(data, ${p})`;
    switch (column.type) {
        case 'text':
            return `CASE WHEN ${type} = 'text' THEN ${value} END`;
        case 'timestamp':
            return `CASE WHEN ${type} = 'text' THEN ${sqliteTimestamp(value)} END`;
        case 'integer':
            // A whole number written as a real (5.0) is the integer; 5.5 or one past int64 is not.
            return `CASE ${type} WHEN 'integer' THEN ${value} WHEN 'real' THEN CASE WHEN ${value} = CAST(${value} AS INTEGER) THEN CAST(${value} AS INTEGER) END END`;
        case 'real':
            return `CASE WHEN ${type} IN ('integer', 'real') THEN CAST(${value} AS REAL) END`;
        case 'boolean':
            return `CASE ${type} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END`;
        case 'json':
            // JSON text of any value but null (a string comes back quoted, as JSON).
            return `CASE WHEN ${type} <> 'null' THEN data -> ${p} END`;
    }
}

/**
 * An RFC 3339 date-time (`YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`) as the mirror writes its
 * own timestamps: UTC, microseconds, `2026-11-30T10:00:01.123456Z`, so the text sorts in time order
 * whatever offset Nango's value had, and reads the same as Postgres's `timestamptz` column does.
 * Anything else is NULL, as on Postgres: no offset, an impossible date (`date()` would roll
 * 2023-02-29 over to March) or time, trailing text. SQLite's own date functions keep milliseconds
 * only, so the fraction is copied from the text (offsets are whole minutes: it never changes).
 */
function sqliteTimestamp(v: string): string {
    const afterSeconds = `substr(${v}, 20)`;
    const fraction = `CASE WHEN substr(${v}, 20, 1) = '.' THEN substr(${v}, 21, length(substr(${v}, 21)) - length(ltrim(substr(${v}, 21), '0123456789'))) ELSE '' END`;
    const zone = `CASE WHEN substr(${v}, 20, 1) = '.' THEN ltrim(substr(${v}, 21), '0123456789') ELSE ${afterSeconds} END`;
    // The same instants Postgres's guard (ISO_TIMESTAMP_PATTERN in postgres/views.ts) lets through.
    const valid = [
        `${v} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*'`,
        `substr(${v}, 1, 4) <> '0000'`,
        `date(substr(${v}, 1, 10)) = substr(${v}, 1, 10)`,
        `time(substr(${v}, 12, 8)) = substr(${v}, 12, 8) AND substr(${v}, 12, 2) < '24' AND substr(${v}, 18, 2) < '60'`,
        `(substr(${v}, 20, 1) <> '.' OR length(${fraction}) BETWEEN 1 AND 9)`,
        `(${zone} = 'Z' OR (${zone} GLOB '[+-][01][0-9]:[0-5][0-9]' AND substr(${zone}, 2, 2) <= '14'))`,
    ].join(' AND ');
    return `CASE WHEN ${valid} THEN strftime('%Y-%m-%dT%H:%M:%S', ${v}) || '.' || substr(${fraction} || '000000', 1, 6) || 'Z' END`;
}

/** A generated view over the live rows, or (`all`) its companion over every row with `deleted_at`. */
export function sqliteGeneratedViewSql(v: GeneratedViewSpec, all: boolean): string {
    const columns = [
        'connection_id',
        'variant',
        'id',
        ...v.columns.map((c) => `${sqliteColumnExpression(c)} AS ${quoteIdentifier(c.name)}`),
        'last_modified_at AS _last_modified_at',
        'first_seen_at AS _first_seen_at',
        ...(all ? ['deleted_at'] : []),
    ];
    const where = [`provider_config_key = ${sqlLiteral(v.providerConfigKey)}`, `model = ${sqlLiteral(v.model)}`, ...(all ? [] : ['deleted_at IS NULL'])];
    return `CREATE VIEW ${quoteIdentifier(all ? v.allName : v.name)} AS SELECT ${columns.join(', ')} FROM nango_records WHERE ${where.join(' AND ')}`;
}

/** An index on a typed column: the view's column expression, after the view's own filter columns. */
export function sqliteTypedIndexSql(i: TypedIndexSpec): string {
    return `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(i.name)} ON nango_records (provider_config_key, model, ${sqliteColumnExpression(i.column)})`;
}

/** Runs one owner's plan in one IMMEDIATE transaction: readers on other connections see the old views until it commits. */
function applySqliteRelations(sqlite: Database.Database, owner: RelationOwner, wanted: (previous: RelationRow[]) => RelationRow[]): RelationChanges {
    return sqlite
        .transaction(() => {
            const previous = sqlite.prepare(SELECT_RELATIONS).all() as RelationRow[];
            const changes = planRelations(previous, wanted(previous), owner);
            const drop = (r: RelationRow) => sqlite.exec(`${isIndexKind(r.kind) ? 'DROP INDEX' : 'DROP VIEW'} IF EXISTS ${quoteIdentifier(r.name)}`);
            const forget = sqlite.prepare('DELETE FROM nango_mirror_views WHERE name = ?');
            for (const r of changes.drop) {
                drop(r);
                forget.run(r.name);
            }
            const insert = sqlite.prepare(`INSERT INTO nango_mirror_views (${RELATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
            for (const r of changes.create) {
                drop(r);
                sqlite.exec(r.definition);
                forget.run(r.name);
                insert.run(...relationParams(r));
            }
            return changes;
        })
        .immediate();
}

/** The config's views and indexes (Schema.applyViews). */
export function applySqliteViews(sqlite: Database.Database, views: readonly ViewSpec[], indexes: readonly IndexSpec[]): void {
    applySqliteRelations(sqlite, 'config', () => configRelations(views, indexes, { view: sqliteViewSql, index: sqliteIndexSql }));
}

/** The generated views (Schema.applyGeneratedViews). */
export function applySqliteGeneratedViews(sqlite: Database.Database, views: readonly GeneratedViewSpec[], indexes: readonly TypedIndexSpec[]): GeneratedViewsApplied {
    const apply = generatedApply(views, indexes, { view: sqliteGeneratedViewSql, index: sqliteTypedIndexSql });
    return apply.result(applySqliteRelations(sqlite, 'generated', apply.wanted));
}
