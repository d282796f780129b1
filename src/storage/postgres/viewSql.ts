import type { IndexSpec, ViewColumnType, ViewSpec } from '../mirrorStore.js';
import { sqlLiteral } from '../viewSpecs.js';

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
