// `npx tsx bench/pageCommit.ts`: the Postgres page writer alone (src/storage/postgres/pageWriter.ts,
// no daemon, no HTTP), to see what the change log costs the server. For each mode, in a fresh
// schema made by the daemon's migrations: PGB_PAGES pages of 1,000 new ~1 KB records (with
// PGB_UPDATE=1, newer versions of rows already written), timed in wall ms and in CPU ms of the
// Postgres backend that ran them (/proc/<backend pid>/stat: a local server). Modes alternate order
// each round; the median per mode is printed. On a shared machine the backend's CPU is the steadier figure.
//
// Modes (PGB_MODES, comma-separated): `on` (as shipped), `off` (changes.enabled false: the triggers
// fire and return), `notrig` (the log's triggers dropped), `oldidx` (the key index rebuilt as
// it ships: the three text columns and seq; a variant can be measured by editing it), `noidx` (no key index).
// $TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RecordRow } from '../src/domain/recordRow.js';
import { writePage } from '../src/storage/postgres/pageWriter.js';
import { generatedRecord } from '../test/fakes/generatedRecords.js';
import { migratedSchemaClient } from './ingestPostgres.js';
import { cpuSeconds, KEY } from './shared.js';

const url = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const pages = Number(process.env['PGB_PAGES'] ?? 100);
const rounds = Number(process.env['PGB_ROUNDS'] ?? 5);
const modes = (process.env['PGB_MODES'] ?? 'on,off').split(',');
const updates = process.env['PGB_UPDATE'] === '1';
const MODE_SQL: Record<string, string[]> = {
    on: [],
    off: ['UPDATE nango_mirror_change_log SET enabled = false WHERE id = 1'],
    notrig: ['insert', 'update', 'delete'].map((t) => `DROP TRIGGER nango_changes_on_${t} ON nango_records`),
    oldidx: ['DROP INDEX nango_changes_key_seq', 'CREATE INDEX nango_changes_key_seq ON nango_changes (provider_config_key, connection_id, model, seq)'],
    noidx: ['DROP INDEX nango_changes_key_seq'],
};

function pageRows(start: number, at: string): RecordRow[] {
    const rows: RecordRow[] = [];
    for (let i = start; i < start + 1000; i++) {
        const data = JSON.stringify({ ...generatedRecord(i), id: String(i), version: at });
        rows.push({ id: String(i), data, keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: at, lastModifiedAt: at, cursor: Buffer.from(`${at}|${i}`).toString('base64') });
    }
    return rows;
}

async function measure(mode: string): Promise<{ wallMs: number; cpuMs: number; logged: number }> {
    const sqls = MODE_SQL[mode];
    if (!sqls) throw new Error(`unknown mode ${mode}; known: ${Object.keys(MODE_SQL).join(', ')}`);
    const schema = `pgbench_${randomBytes(4).toString('hex')}`;
    const client = await migratedSchemaClient(url, schema);
    try {
        for (const sql of sqls) await client.query(sql);
        await client.query(`INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status) VALUES ($1, $2, $3, $4, 'running')`, Object.values(KEY));
        const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const first = '2026-11-22T10:00:00.123456Z';
        const second = '2026-11-22T11:00:00.123456Z';
        const write = (rows: RecordRow[], at: string) =>
            writePage(client as unknown as pg.PoolClient, KEY, { rows, cursor: rows.at(-1)!.cursor, deletes: 'soft', syncedAt: at, pullStartedAt: at });
        if (updates) for (let p = 0; p < pages; p++) await write(pageRows(p * 1000, first), first);
        const work = Array.from({ length: pages }, (_, p) => pageRows(p * 1000, updates ? second : first));
        const cpu0 = cpuSeconds(backend);
        const t0 = performance.now();
        for (const rows of work) await write(rows, updates ? second : first);
        const wallMs = performance.now() - t0;
        const cpuMs = (cpuSeconds(backend) - cpu0) * 1000;
        const logged = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM nango_changes')).rows[0]!.n;
        return { wallMs, cpuMs, logged };
    } finally {
        await client.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined);
        await client.end();
    }
}

const results = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 0; round < rounds; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
        const r = await measure(mode);
        const acc = results.get(mode) ?? { wall: [], cpu: [] };
        acc.wall.push(r.wallMs / pages);
        acc.cpu.push(r.cpuMs / pages);
        results.set(mode, acc);
        console.log(`round ${round + 1} ${mode.padEnd(7)} wall ${(r.wallMs / pages).toFixed(1)} ms/page, backend CPU ${(r.cpuMs / pages).toFixed(1)} ms/page, ${r.logged} changes logged`);
    }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [mode, r] of results) console.log(`median ${mode.padEnd(7)} wall ${median(r.wall).toFixed(1)} ms/page, backend CPU ${median(r.cpu).toFixed(1)} ms/page`);
