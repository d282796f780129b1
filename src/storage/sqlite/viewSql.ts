import type { IndexSpec, ViewColumnType, ViewSpec } from '../mirrorStore.js';
import { sqlLiteral, sqliteJsonPath } from '../viewSpecs.js';

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
