import pg from 'pg';

export interface PostgresPoolOptions {
    url: string;
    /** Every table goes in this schema (validated identifier). */
    schema: string;
    /** Connections in the pool: one per running pull, plus webhooks and polling. @default 10 */
    poolSize?: number;
    /**
     * Connections opened by `migrate()` and kept while idle, so that a burst of webhooks does not
     * wait for Postgres to start backends (a process each). @default 0
     */
    keepOpen?: number;
}

/** A timestamptz as the mirror's text form (UTC, six fraction digits), for answers shown to people. */
export const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const KEY_WHERE = 'provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4';

export const keyArgs = (k: { providerConfigKey: string; connectionId: string; model: string; variant: string }) => [k.providerConfigKey, k.connectionId, k.model, k.variant];

/** Keys as four parallel arrays, for `unnest($1::text[], $2::text[], $3::text[], $4::text[])`. */
export const keyArrays = (keys: readonly { providerConfigKey: string; connectionId: string; model: string; variant: string }[]) => [
    keys.map((k) => k.providerConfigKey),
    keys.map((k) => k.connectionId),
    keys.map((k) => k.model),
    keys.map((k) => k.variant),
];

export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
    const pool = new pg.Pool({
        connectionString: options.url,
        max: options.poolSize ?? 10,
        min: Math.min(options.keepOpen ?? 0, options.poolSize ?? 10),
        options: `-c search_path=${options.schema}`,
        // Timestamps as text: a JS Date would drop Nango's microseconds.
        types: { getTypeParser: (oid: number, format?: string) => (oid === 1184 || oid === 1114 ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) },
    });
    pool.on('error', () => {
        // An idle client lost its connection; the pool replaces it and the next query reports errors.
    });
    return pool;
}
