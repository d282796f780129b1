import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { generatedViewSpecs } from '../../src/domain/generatedViews.js';
import type { GeneratedViewSpec } from '../../src/domain/viewSpec.js';
import type { EngineName, MirrorReader, TestDatabase } from './engines.js';

/** A generated view of `hubspot`/`model` from a one-definition `json_schema` (sync `typed`, version 3). */
export function typedSpec(_engine: EngineName, properties: Record<string, unknown>, model = 'Typed'): GeneratedViewSpec {
    const sync = { name: 'typed', version: '3', json_schema: { definitions: { [model]: { type: 'object', properties } } } };
    const { views } = generatedViewSpecs([{ providerConfigKey: 'hubspot', model, sync }]);
    if (views.length !== 1) throw new Error('typedSpec: no view');
    return views[0]!;
}

/** Views whose names push the rules: odd property keys, fixed-field names, a view named like an import. */
export function edgeViews(): GeneratedViewSpec[] {
    const sync = (model: string, properties: Record<string, unknown>) => ({ name: 's', version: '1', json_schema: { definitions: { [model]: { type: 'object', properties } } } });
    const odd = {
        id: { type: 'string' },
        'e-mail': { type: 'string' },
        '2fa': { type: 'boolean' },
        variant: { type: 'string' },
        connectionId: { type: 'integer' },
        deletedAt: { type: 'string', format: 'date-time' },
        firstName: { type: 'string' },
        first_name: { type: 'string' },
        'it\'s "quoted"': { type: 'number' },
        $: { type: 'object' },
        class: { type: 'string' },
    };
    return generatedViewSpecs(
        [
            { providerConfigKey: 'pg', model: 'View', sync: sync('View', odd) },
            { providerConfigKey: 'acme', model: '2Things', sync: sync('2Things', { a: { type: 'string' } }) },
        ],
        { prefix: '' },
    ).views;
}

/** One engine's row in one form: booleans as booleans (SQLite gives 1/0), JSON columns parsed (SQLite gives JSON text). */
export function normalize(engine: EngineName, row: Record<string, unknown>): Record<string, unknown> {
    const out = { ...row };
    if (engine !== 'sqlite') return out;
    for (const k of ['active']) if (typeof out[k] === 'number') out[k] = out[k] === 1;
    for (const k of ['tags', 'meta']) if (typeof out[k] === 'string') out[k] = JSON.parse(out[k]);
    return out;
}

/** A view's columns in order. */
export async function columnNames(reader: MirrorReader, engine: EngineName, name: string): Promise<string[]> {
    const rows =
        engine === 'sqlite'
            ? await reader.all<{ name: string }>(`SELECT name FROM pragma_table_info(?)`, name)
            : await reader.all<{ name: string }>(`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, name);
    return rows.map((r) => r.name);
}

/** The query plan as text: SQLite's EXPLAIN QUERY PLAN; Postgres's EXPLAIN with sequential scans off (a test table is small). */
export async function explain(engine: EngineName, db: TestDatabase, reader: MirrorReader, sql: string): Promise<string> {
    if (engine === 'sqlite') return (await reader.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)).map((r) => r.detail).join('\n');
    const client = new pg.Client({ connectionString: db.database.url, options: `-c search_path=${db.database.schema} -c enable_seqscan=off` });
    await client.connect();
    try {
        return (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
        await client.end();
    }
}

export interface ReaderLoop {
    /** Resolves once the first read succeeded. */
    running: Promise<void>;
    /** Stops the loop: how many reads, and every error met. */
    stop(): Promise<{ reads: number; errors: string[] }>;
}

/**
 * `sql` in a tight loop on a connection of its own, as an app would read a view: SQLite in a worker
 * thread (its reads are synchronous), Postgres on its own client.
 */
export function startReaderLoop(engine: EngineName, db: TestDatabase, sql: string): ReaderLoop {
    return engine === 'sqlite' ? sqliteLoop(db.database.url.slice('sqlite:'.length), sql) : postgresLoop(db, sql);
}

const SQLITE_LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { readonly: true });
db.pragma('busy_timeout = 5000');
const stop = new Int32Array(workerData.stop);
let reads = 0;
const errors = [];
while (Atomics.load(stop, 0) === 0) {
    try {
        db.prepare(workerData.sql).all();
        if (++reads === 1) parentPort.postMessage({ running: true });
    } catch (err) {
        errors.push(String(err && err.message));
        if (errors.length > 20) break;
    }
}
db.close();
parentPort.postMessage({ reads, errors });
`;

function sqliteLoop(path: string, sql: string): ReaderLoop {
    const stop = new SharedArrayBuffer(4);
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(SQLITE_LOOP, { eval: true, workerData: { path, sql, stop, driver } });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const done = new Promise<{ reads: number; errors: string[] }>((resolve, reject) => {
        worker.on('message', (m: { running?: boolean; reads?: number; errors?: string[] }) => {
            if (m.running) started();
            else resolve({ reads: m.reads!, errors: m.errors! });
        });
        worker.on('error', reject);
    });
    return {
        running: Promise.race([running, done.then((r) => Promise.reject(new Error(`the reader stopped: ${r.errors.join('; ')}`)))]),
        async stop() {
            Atomics.store(new Int32Array(stop), 0, 1);
            const result = await done;
            await worker.terminate();
            return result;
        },
    };
}

function postgresLoop(db: TestDatabase, sql: string): ReaderLoop {
    const client = new pg.Client({ connectionString: db.database.url, options: `-c search_path=${db.database.schema}` });
    let stopped = false;
    let reads = 0;
    const errors: string[] = [];
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const loop = (async () => {
        await client.connect();
        while (!stopped && errors.length <= 20) {
            try {
                await client.query(sql);
                if (++reads === 1) started();
            } catch (err) {
                errors.push((err as Error).message);
            }
        }
        await client.end();
    })();
    return {
        running,
        async stop() {
            stopped = true;
            await loop;
            return { reads, errors };
        },
    };
}
