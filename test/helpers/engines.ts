import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import { toMicroIso } from '../../src/domain/timestamps.js';

/**
 * The engines the end-to-end suite runs against. Postgres: $TEST_POSTGRES_URL, else
 * 127.0.0.1:5432 (user postgres, database test) if it answers; else the Postgres tests are
 * skipped with a loud notice — unless $REQUIRE_POSTGRES is set (CI), which makes them fail.
 */
export type EngineName = 'sqlite' | 'postgres';

export interface TestDatabase {
    engine: EngineName;
    /** For the config: `database.url` and `database.schema`. */
    database: { url: string; schema?: string };
    reader(): MirrorReader;
    /** Drops the schema (Postgres); the SQLite file goes with its directory. */
    drop(): Promise<void>;
}

/** Reads the mirror the way an app would, normalized across engines for assertions. */
export interface MirrorReader {
    all<T>(sql: string, ...params: unknown[]): Promise<T[]>;
    exec(sql: string): Promise<void>;
    close(): Promise<void>;
}

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/test';
let postgresUrl: Promise<string | undefined> | undefined;

export function findPostgres(): Promise<string | undefined> {
    postgresUrl ??= (async () => {
        const url = process.env['TEST_POSTGRES_URL'] ?? DEFAULT_PG;
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
        try {
            await client.connect();
            await client.query('SELECT 1');
            return url;
        } catch (err) {
            if (process.env['REQUIRE_POSTGRES']) throw new Error(`REQUIRE_POSTGRES is set but Postgres at ${url} does not answer: ${(err as Error).message}`);
            console.warn(`\n*** Postgres at ${url} does not answer (${(err as Error).message}): THE POSTGRES TESTS ARE SKIPPED. Set TEST_POSTGRES_URL. ***\n`);
            return undefined;
        } finally {
            await client.end().catch(() => undefined);
        }
    })();
    return postgresUrl;
}

/** The engines to run: sqlite always, postgres when it answers. */
export async function testEngines(): Promise<EngineName[]> {
    return (await findPostgres()) ? ['sqlite', 'postgres'] : ['sqlite'];
}

export async function createTestDatabase(engine: EngineName, dir: string): Promise<TestDatabase> {
    if (engine === 'sqlite') {
        const path = join(dir, 'mirror.db');
        return { engine, database: { url: `sqlite:${path}` }, reader: () => sqliteReader(path), drop: async () => undefined };
    }
    const url = (await findPostgres())!;
    // Each test gets its own schema, so files run in parallel without seeing each other.
    const schema = `nm_test_${randomBytes(5).toString('hex')}`;
    return {
        engine,
        database: { url, schema },
        reader: () => postgresReader(url, schema),
        async drop() {
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
            await client.end();
        },
    };
}

function sqliteReader(path: string): MirrorReader {
    let db: Database.Database | undefined;
    const open = () => (db ??= new Database(path, { readonly: true }));
    return {
        async all<T>(sql: string, ...params: unknown[]) {
            return open().prepare(sql).all(...params) as T[];
        },
        async exec(sql: string) {
            const rw = new Database(path);
            try {
                rw.exec(sql);
            } finally {
                rw.close();
            }
        },
        async close() {
            db?.close();
        },
    };
}

/** Timestamps come back in the SQLite text form, bigints as numbers, `data` as JSON text: one set of assertions serves both. */
function postgresReader(url: string, schema: string): MirrorReader {
    const types = {
        getTypeParser(oid: number, format?: string) {
            if (oid === 1184 || oid === 1114) return (v: string) => toMicroIso(v);
            if (oid === 20) return (v: string) => Number(v);
            return pg.types.getTypeParser(oid, format as 'text');
        },
    };
    const pool = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema} -c TimeZone=UTC`, types });
    return {
        async all<T>(sql: string, ...params: unknown[]) {
            // `?` placeholders (SQLite style) become $n.
            let n = 0;
            const res = await pool.query(sql.replace(/\?/g, () => `$${++n}`), params);
            return res.rows.map((row: Record<string, unknown>) => ('data' in row && row['data'] !== null && typeof row['data'] === 'object' ? { ...row, data: JSON.stringify(row['data']) } : row)) as T[];
        },
        async exec(sql: string) {
            await pool.query(sql);
        },
        async close() {
            await pool.end();
        },
    };
}
