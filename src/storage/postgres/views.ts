import type pg from 'pg';
import type { GeneratedViewColumn, GeneratedViewSpec, IndexSpec, TypedIndexSpec, ViewColumnType, ViewSpec } from '../../domain/viewSpec.js';
import { quoteIdentifier, sqlLiteral } from '../sqlLiteral.js';
import type { GeneratedViewsApplied } from '../store.js';
import { configRelations, generatedApply, isIndexKind, planRelations, RELATION_COLUMNS, relationParams, SELECT_RELATIONS, type RelationChanges, type RelationOwner, type RelationRow } from '../viewRelations.js';

const pathLiteral = (segments: readonly string[]) => sqlLiteral(`{${segments.join(',')}}`);

const CAST: Record<ViewColumnType, (segments: readonly string[]) => string> = {
    text: (p) => `(data #>> ${pathLiteral(p)})`,
    integer: (p) => `(data #>> ${pathLiteral(p)})::bigint`,
    real: (p) => `(data #>> ${pathLiteral(p)})::double precision`,
    boolean: (p) => `(data #>> ${pathLiteral(p)})::boolean`,
    timestamp: (p) => `(data #>> ${pathLiteral(p)})::timestamptz`,
    json: (p) => `(data #> ${pathLiteral(p)})`,
};

/** A config view: one row per live record of the model: connection_id, id, the typed columns, last_modified_at. */
export function postgresViewSql(schema: string, v: ViewSpec): string {
    const cols = v.columns.map((c) => `${CAST[c.type](c.path)} AS "${c.name}"`);
    const where = [`provider_config_key = ${sqlLiteral(v.providerConfigKey)}`, `model = ${sqlLiteral(v.model)}`, 'deleted_at IS NULL'];
    if (v.variant !== undefined) where.push(`variant = ${sqlLiteral(v.variant)}`);
    return `CREATE VIEW "${schema}"."${v.name}" AS SELECT connection_id, id, ${cols.join(', ')}, last_modified_at FROM "${schema}".nango_records WHERE ${where.join(' AND ')}`;
}

export function postgresIndexSql(schema: string, i: IndexSpec): string {
    return `CREATE INDEX IF NOT EXISTS "${i.name}" ON "${schema}".nango_records (provider_config_key, model, (data #>> ${pathLiteral(i.path)}))`;
}

/**
 * What `::timestamptz` accepts without an error, and nothing else (Postgres 15 has no
 * `pg_input_is_valid`): an RFC 3339 date-time with its offset (without one the instant would
 * depend on the session's time zone). Real dates only — days per month, February 29 in leap years
 * (divisible by 4, not by 100 unless by 400), no year 0000 — hours 00–23, seconds 00–59, up to 9
 * fraction digits (Postgres rounds to microseconds), offsets up to ±14:59.
 */
const DATE_31 = '(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])';
const DATE_30 = '(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)';
const DATE_FEB = '02-(?:0[1-9]|1[0-9]|2[0-8])';
const LEAP_DAY = '(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29';
export const ISO_TIMESTAMP_PATTERN =
    `^(?!0000)(?:[0-9]{4}-(?:${DATE_31}|${DATE_30}|${DATE_FEB})|${LEAP_DAY})` + '[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])$';

/** Postgres's largest and smallest normal double: a number outside reads NULL (the cast would fail). */
const MAX_DOUBLE = '1.7976931348623157e308';
const MIN_NORMAL_DOUBLE = '2.2250738585072014e-308';

/**
 * A generated column's expression: the value when its JSON type fits the column, else NULL (never
 * an error: every cast sits in a CASE branch its guard selects, and Postgres evaluates a CASE's
 * branches only when chosen, unlike the operands of AND). The key is a bound-literal `data -> 'key'`,
 * whatever it contains. A typed-column index is on this very expression (postgresTypedIndexSql).
 */
export function postgresColumnExpression(column: Pick<GeneratedViewColumn, 'path' | 'type'>): string {
    if (column.path.length !== 1) return 'NULL';
    const key = sqlLiteral(column.path[0]!);
    const json = `(data -> ${key})`;
    const text = `(data ->> ${key})`;
    const is = (type: string) => `jsonb_typeof(${json}) = '${type}'`;
    const number = `${json}::numeric`;
    switch (column.type) {
        case 'text':
            return `CASE WHEN ${is('string')} THEN ${text} END`;
        case 'timestamp':
            return `CASE WHEN ${is('string')} AND ${text} ~ ${sqlLiteral(ISO_TIMESTAMP_PATTERN)} THEN ${text}::timestamptz END`;
        case 'integer':
            // As on SQLite: a whole number (5.0 too) within int64.
            return `CASE WHEN ${is('number')} THEN CASE WHEN ${number} = trunc(${number}) AND ${number} BETWEEN -9223372036854775808 AND 9223372036854775807 THEN ${number}::bigint END END`;
        case 'real':
            return `CASE WHEN ${is('number')} THEN CASE WHEN ${number} = 0 OR abs(${number}) BETWEEN ${MIN_NORMAL_DOUBLE} AND ${MAX_DOUBLE} THEN ${json}::double precision END END`;
        case 'boolean':
            return `CASE WHEN ${is('boolean')} THEN ${json}::boolean END`;
        case 'json':
            return `CASE WHEN jsonb_typeof(${json}) <> 'null' THEN ${json} END`;
    }
}

/** A generated view over the live rows, or (`all`) its companion over every row with `deleted_at`. */
export function postgresGeneratedViewSql(schema: string, v: GeneratedViewSpec, all: boolean): string {
    const columns = [
        'connection_id',
        'variant',
        'id',
        ...v.columns.map((c) => `${postgresColumnExpression(c)} AS ${quoteIdentifier(c.name)}`),
        'last_modified_at AS _last_modified_at',
        'first_seen_at AS _first_seen_at',
        ...(all ? ['deleted_at'] : []),
    ];
    const where = [`provider_config_key = ${sqlLiteral(v.providerConfigKey)}`, `model = ${sqlLiteral(v.model)}`, ...(all ? [] : ['deleted_at IS NULL'])];
    return `CREATE VIEW ${quoteIdentifier(schema)}.${quoteIdentifier(all ? v.allName : v.name)} AS SELECT ${columns.join(', ')} FROM ${quoteIdentifier(schema)}.nango_records WHERE ${where.join(' AND ')}`;
}

/**
 * An index on a typed column: the view's column expression, after the view's own filter columns.
 * Not for a timestamp column: text → timestamptz depends on settings, so Postgres refuses it in an
 * index (only immutable expressions may be indexed).
 */
export function postgresTypedIndexSql(schema: string, i: TypedIndexSpec): string | undefined {
    if (i.column.type === 'timestamp') return undefined;
    return `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(i.name)} ON ${quoteIdentifier(schema)}.nango_records (provider_config_key, model, (${postgresColumnExpression(i.column)}))`;
}

/**
 * Runs one owner's plan in one transaction. Daemons applying at once take turns on a
 * transaction-level advisory lock, and each reads what is in place only once it holds it, so the
 * later one finds the views made and changes nothing. Postgres DDL is transactional: a reader
 * sees the old view until the commit, then the new one (a query waiting on the dropped view's
 * lock looks the name up again).
 */
async function applyPostgresRelations(client: pg.PoolClient, schema: string, owner: RelationOwner, wanted: (previous: RelationRow[]) => RelationRow[]): Promise<RelationChanges> {
    await client.query('BEGIN');
    try {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`nango-mirror-views:${schema}`]);
        const previous = (await client.query<RelationRow>(SELECT_RELATIONS)).rows;
        const changes = planRelations(previous, wanted(previous), owner);
        const drop = (r: RelationRow) => client.query(`${isIndexKind(r.kind) ? 'DROP INDEX' : 'DROP VIEW'} IF EXISTS ${quoteIdentifier(schema)}.${quoteIdentifier(r.name)}`);
        for (const r of changes.drop) {
            await drop(r);
            await client.query('DELETE FROM nango_mirror_views WHERE name = $1', [r.name]);
        }
        for (const r of changes.create) {
            await drop(r);
            await client.query(r.definition);
            await client.query('DELETE FROM nango_mirror_views WHERE name = $1', [r.name]);
            await client.query(`INSERT INTO nango_mirror_views (${RELATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, relationParams(r));
        }
        await client.query('COMMIT');
        return changes;
    } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
    }
}

/** The config's views and indexes (Schema.applyViews). */
export async function applyPostgresViews(client: pg.PoolClient, schema: string, views: readonly ViewSpec[], indexes: readonly IndexSpec[]): Promise<void> {
    await applyPostgresRelations(client, schema, 'config', () =>
        configRelations(views, indexes, { view: (v) => postgresViewSql(schema, v), index: (i) => postgresIndexSql(schema, i) }),
    );
}

/** The generated views (Schema.applyGeneratedViews). */
export async function applyPostgresGeneratedViews(client: pg.PoolClient, schema: string, views: readonly GeneratedViewSpec[], indexes: readonly TypedIndexSpec[]): Promise<GeneratedViewsApplied> {
    const apply = generatedApply(views, indexes, { view: (v, all) => postgresGeneratedViewSql(schema, v, all), index: (i) => postgresTypedIndexSql(schema, i) });
    return apply.result(await applyPostgresRelations(client, schema, 'generated', apply.wanted));
}
