// Ingest benchmark: one webhook, N records (~1 KB each) from the fake Nango (its own process, over
// loopback) into a SQLite file by the real daemon (its own process, the built dist/), against the
// ceiling measured in the same run: the same rows upserted straight into better-sqlite3 in
// 1000-row transactions with no HTTP. Reports records/s, the ratio, and the daemon's peak RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSqliteStore } from '../src/storage/sqlite/sqliteStore.js';
import { spawnFakeNango, type FakeNangoProcess } from '../test/fakes/fakeNangoProcess.js';
import { generatedRecord } from '../test/fakes/generatedRecords.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';

export interface IngestRound {
    daemonSeconds: number;
    ceilingSeconds: number;
    ratio: number;
    peakRssMb: number;
}

export interface IngestResult {
    engine: 'sqlite';
    records: number;
    daemonSeconds: number;
    daemonRate: number;
    ceilingSeconds: number;
    ceilingRate: number;
    ratio: number;
    peakRssMb: number;
    rounds: IngestRound[];
}

const SIGNING_KEY = 'bench-signing-key';
const KEY = { providerConfigKey: 'bench', connectionId: 'conn-1', model: 'Contact', variant: 'base' };

/**
 * Alternates ceiling and daemon `rounds` times against one loaded fake and reports the median
 * round: a shared 2-core machine is noisy (fsync latency, CPU steal), and a median of paired
 * measurements taken moments apart is what a ratio can honestly claim.
 */
export async function benchIngest(records: number, workDir: string, rounds = 3): Promise<IngestResult> {
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 100, nodeArgs: ['--max-old-space-size=4096', ...(process.env['BENCH_FAKE_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])] });
    const results: IngestRound[] = [];
    try {
        await nango.call('addConnection', { providerConfigKey: KEY.providerConfigKey, connectionId: KEY.connectionId });
        await nango.call('saveGenerated', { key: KEY, count: records, recordBytes: 1000 });
        for (let round = 0; round < rounds; round++) {
            const dir = join(workDir, `round-${round}`);
            mkdirSync(dir, { recursive: true });
            const ceilingSeconds = await measureCeiling(records, join(dir, 'ceiling.db'));
            const daemon = await measureDaemon(records, dir, nango);
            const r = { daemonSeconds: daemon.seconds, ceilingSeconds, ratio: ceilingSeconds / daemon.seconds, peakRssMb: daemon.peakRssMb };
            results.push(r);
            console.log(`  round ${round + 1}/${rounds}: daemon ${r.daemonSeconds.toFixed(2)} s, ceiling ${r.ceilingSeconds.toFixed(2)} s, ratio ${r.ratio.toFixed(2)}, peak RSS ${r.peakRssMb.toFixed(0)} MB`);
            rmSync(dir, { recursive: true, force: true });
        }
    } finally {
        await nango.stop();
    }
    const median = [...results].sort((a, b) => a.ratio - b.ratio)[Math.floor(results.length / 2)]!;
    return {
        engine: 'sqlite',
        records,
        daemonSeconds: median.daemonSeconds,
        daemonRate: records / median.daemonSeconds,
        ceilingSeconds: median.ceilingSeconds,
        ceilingRate: records / median.ceilingSeconds,
        ratio: median.ratio,
        peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
        rounds: results,
    };
}

/** The same rows, straight into the same table: prepared upsert, 1000 rows per transaction. */
async function measureCeiling(records: number, path: string): Promise<number> {
    const store = createSqliteStore({ path });
    await store.migrate();
    await store.close();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const upsert = db.prepare(`
        INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
            deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
            data = excluded.data, last_action = excluded.last_action, deleted_at = excluded.deleted_at,
            pruned_at = excluded.pruned_at, last_modified_at = excluded.last_modified_at,
            cursor = excluded.cursor, synced_at = excluded.synced_at`);
    const writePage = db.transaction((rows: unknown[][]) => {
        for (const r of rows) upsert.run(...r);
    });
    const ts = '2026-11-22T10:00:00.123456Z';
    let elapsed = 0;
    for (let start = 0; start < records; start += 1000) {
        const rows: unknown[][] = [];
        for (let i = start; i < Math.min(records, start + 1000); i++) {
            const payload = { ...generatedRecord(i), id: String(i) };
            const cursor = Buffer.from(`2026-11-22T10:00:00.123456+00:00||00000000-0000-5000-8000-${String(i).padStart(12, '0')}`).toString('base64');
            rows.push([KEY.providerConfigKey, KEY.connectionId, KEY.model, KEY.variant, String(i), JSON.stringify(payload), 'ADDED', null, null, ts, ts, cursor, ts]);
        }
        const t0 = performance.now();
        writePage(rows);
        elapsed += performance.now() - t0;
    }
    db.close();
    return elapsed / 1000;
}

async function measureDaemon(records: number, workDir: string, nango: FakeNangoProcess): Promise<{ seconds: number; peakRssMb: number }> {
    {
        const dbPath = join(workDir, 'mirror.db');
        const configPath = join(workDir, 'config.json');
        writeFileSync(
            configPath,
            JSON.stringify({
                nango: { host: nango.baseUrl, apiKey: nango.apiKey, webhookSigningKey: SIGNING_KEY },
                server: { host: '127.0.0.1', port: 0 },
                database: { url: `sqlite:${dbPath}` },
                sync: { reconcileIntervalSeconds: 0, pageSize: 1000 },
                logLevel: 'info',
            }),
        );
        const child = spawn(process.execPath, [...(process.env['BENCH_DAEMON_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), 'dist/cli.js', 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
        try {
            const port = await portFromLog(child);
            const signed = signWebhook(syncSuccessBody(KEY), SIGNING_KEY);
            const t0 = performance.now();
            const res = await fetch(`http://127.0.0.1:${port}/webhooks/nango`, { method: 'POST', body: signed.body, headers: signed.headers });
            if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
            const db = new Database(dbPath, { readonly: true });
            const done = db.prepare("SELECT status, done_seq, last_error FROM nango_sync_state WHERE connection_id = ?");
            for (;;) {
                const row = done.get(KEY.connectionId) as { status: string; done_seq: number; last_error: string | null } | undefined;
                if (row?.status === 'failed') throw new Error(`the pull failed: ${row.last_error}`);
                if (row && row.done_seq >= 1) break;
                await new Promise((r) => setTimeout(r, Number(process.env['BENCH_POLL_MS'] ?? 20)));
            }
            const seconds = (performance.now() - t0) / 1000;
            const count = (db.prepare('SELECT count(*) AS n FROM nango_records').get() as { n: number }).n;
            db.close();
            if (count !== records) throw new Error(`the mirror holds ${count} records, expected ${records}`);
            const peakRssMb = readPeakRssMb(child.pid!);
            if (process.env['BENCH_VERBOSE']) {
                console.log(`  (cpu seconds: daemon ${cpuSeconds(child.pid!).toFixed(2)}, fake nango ${cpuSeconds(nango.child.pid!).toFixed(2)}, wall ${seconds.toFixed(2)})`);
            }
            return { seconds, peakRssMb };
        } finally {
            child.kill('SIGTERM');
            await new Promise((r) => child.once('exit', r));
        }
    }
}

/** The daemon listens on port 0 and says which port in its start-up log line. */
function portFromLog(child: ChildProcess): Promise<number> {
    return new Promise((resolve, reject) => {
        let buffered = '';
        child.stdout!.on('data', (chunk: Buffer) => {
            buffered += chunk.toString();
            const m = /"port":(\d+).*"msg":"nango-mirror is running"/.exec(buffered);
            if (m) resolve(Number(m[1]));
            const pull = /"durationMs":(\d+),"commitMs":(\d+)/.exec(buffered);
            if (pull && process.env['BENCH_VERBOSE']) console.log(`  (daemon: pull ${pull[1]} ms, of which commits ${pull[2]} ms)`);
            if (pull) buffered = '';
        });
        child.once('exit', (code) => reject(new Error(`the daemon exited (${code}) before listening`)));
    });
}

function cpuSeconds(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
}

function readPeakRssMb(pid: number): number {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return kb / 1024;
}
