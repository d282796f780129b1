// Ingest benchmark, Postgres: the same run as bench/ingest.ts (one webhook, N records of ~1 KB,
// the built daemon in its own process), into a fresh schema of a Postgres database, against the
// ceiling measured in the same run: the same rows upserted straight into Postgres with
// node-postgres, 1000 rows per multi-row `INSERT … ON CONFLICT DO UPDATE`, each page with its
// cursor update in one transaction, into a table made by the daemon's own migrations.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore } from '../src/storage/postgres/openPostgresStore.js';
import { benchRounds, ceilingRows, cpuSeconds, KEY, PAGE_SIZE, type ChangesMode, type IngestResult } from './shared.js';

const COLUMNS = 13;

export async function benchIngestPostgres(records: number, workDir: string, rounds: number, pgUrl: string, changes: ChangesMode = 'on'): Promise<IngestResult> {
    return benchRounds('postgres', records, workDir, rounds, async () => {
        const ceilingSchema = `bench_${randomBytes(5).toString('hex')}`;
        const daemonSchema = `bench_${randomBytes(5).toString('hex')}`;
        return {
            ceiling: () => measureCeiling(records, pgUrl, ceilingSchema),
            // The daemon creates its schema and tables at start-up (its migrations), untimed.
            database: { url: pgUrl, schema: daemonSchema },
            async countDaemonRecords() {
                return withClient(pgUrl, async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${daemonSchema}".nango_records`)).rows[0]!.n);
            },
            async dispose() {
                await withClient(pgUrl, async (c) => {
                    for (const schema of [ceilingSchema, daemonSchema]) await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
                });
            },
        };
    }, changes);
}

/** True when a Postgres server answers at `url` (within 2 s). */
export async function postgresAnswers(url: string): Promise<{ ok: true } | { ok: false; error: string }> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
        await client.connect();
        await client.query('SELECT 1');
        return { ok: true };
    } catch (err) {
        return { ok: false, error: (err as Error).message };
    } finally {
        await client.end().catch(() => undefined);
    }
}

/**
 * The same rows into an identical table (the daemon's migrations, in a schema of its own): one
 * multi-row upsert per 1000 rows plus the cursor update, in one transaction. The statement text
 * and values are built outside the timed part; only BEGIN … COMMIT is timed. Like the SQLite
 * ceiling's, the statements are prepared (named, parsed once per connection): unprepared, Postgres
 * parses and plans the 13,000-parameter VALUES list on every page, which made this ceiling about a
 * third slower than it needs to be (measured: 3.2 s instead of 2.1 s per 100,000 rows).
 */
async function measureCeiling(records: number, url: string, schema: string): Promise<{ seconds: number; cpuSeconds: number }> {
    const client = await migratedSchemaClient(url, schema);
    try {
        const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const serverCpu0 = cpuSeconds(backend);
        let clientCpuMicros = 0;
        const keyValues = [KEY.providerConfigKey, KEY.connectionId, KEY.model, KEY.variant];
        await client.query(
            `INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status) VALUES ($1, $2, $3, $4, 'running')`,
            keyValues,
        );
        const cursorUpdate = `UPDATE nango_sync_state SET cursor = $5, records_pulled_total = records_pulled_total + $6, updated_at = $7
            WHERE provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4`;
        let elapsed = 0;
        for (let start = 0; start < records; start += PAGE_SIZE) {
            const rows = ceilingRows(start, Math.min(records, start + PAGE_SIZE));
            const upsert = upsertStatement(rows.length);
            const values = rows.flat();
            const last = rows[rows.length - 1]!;
            const cursorValues = [...keyValues, last[11], rows.length, last[12]];
            const t0 = performance.now();
            const cpu0 = process.cpuUsage();
            await client.query('BEGIN');
            await client.query({ name: `bench_upsert_${rows.length}`, text: upsert, values });
            await client.query({ name: 'bench_cursor', text: cursorUpdate, values: cursorValues });
            await client.query('COMMIT');
            const cpu = process.cpuUsage(cpu0);
            elapsed += performance.now() - t0;
            clientCpuMicros += cpu.user + cpu.system;
        }
        // The backend did nothing but these transactions since serverCpu0.
        return { seconds: elapsed / 1000, cpuSeconds: clientCpuMicros / 1e6 + cpuSeconds(backend) - serverCpu0 };
    } finally {
        await client.end();
    }
}

const upsertStatements = new Map<number, string>();

function upsertStatement(rows: number): string {
    let text = upsertStatements.get(rows);
    if (text) return text;
    const tuples: string[] = [];
    for (let r = 0; r < rows; r++) {
        const params = Array.from({ length: COLUMNS }, (_, c) => `$${r * COLUMNS + c + 1}`);
        tuples.push(`(${params.join(', ')})`);
    }
    text = `INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
            deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
        VALUES ${tuples.join(',\n')}
        ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
            data = excluded.data, last_action = excluded.last_action, deleted_at = excluded.deleted_at,
            pruned_at = excluded.pruned_at, last_modified_at = excluded.last_modified_at,
            cursor = excluded.cursor, synced_at = excluded.synced_at`;
    upsertStatements.set(rows, text);
    return text;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
        return await fn(client);
    } finally {
        await client.end();
    }
}

/** `schema` migrated as the daemon migrates it, and one plain connection to it (search_path set), for measuring statements alone. */
export async function migratedSchemaClient(url: string, schema: string): Promise<pg.Client> {
    const store = openPostgresStore({ url, schema, poolSize: 1 });
    try {
        await store.schema.migrate();
    } finally {
        await store.close();
    }
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    return client;
}
