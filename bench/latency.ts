// Change latency (issue 14 item 3): on an idle daemon, one record changes in the fake Nango, one
// signed webhook announces it, and the bench times from the webhook's acknowledgement to the new
// version readable through a connection of its own. Webhooks are spaced out, so each change meets
// an idle daemon. Then a few changes each after the page worker has exited (it starts with the
// first pull and exits after sync.pageWorkerIdleSeconds without one; the bench sets 5 s so as not
// to wait the default 10 minutes): what the first change after a long quiet costs. Also the
// daemon's idle RSS: freshly started, and again once its worker threads have exited.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createTestDatabase, type MirrorReader } from '../test/helpers/engines.js';
import { spawnFakeNango } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { CHECKPOINTER_IDLE_MS } from '../src/storage/sqlite/connection.js';
import { cpuSeconds, fakeRequestCount, SIGNING_KEY, startBenchDaemon, type BenchDaemon, type Engine } from './shared.js';
import { percentile } from './stats.js';

export interface LatencyResult {
    engine: Engine;
    webhooks: number;
    intervalMs: number;
    /** From the webhook's 2xx to the change readable, ms. */
    visible: { p50: number; p90: number; p99: number; max: number };
    /** From sending the webhook to its 2xx, ms. */
    ack: { p50: number; p99: number };
    /** Nango requests per webhook (`GET /records`, and anything else the daemon asked). */
    nangoRequestsPerWebhook: number;
    /** The daemon's CPU per webhook, all threads, ms. */
    cpuMsPerWebhook: number;
    /** Resident memory of the daemon, idle (nothing to do for SETTLE_MS): freshly started; and again after the run. */
    idleRssMb: { fresh: number; afterRun: number };
    /** From the 2xx to the change readable when the page worker had exited (each waits for a new one), ms. */
    afterWorkerExit: { count: number; p50: number; max: number };
}

const KEY = { providerConfigKey: 'bench', connectionId: 'conn-1', model: 'Contact', variant: 'base' };
const RECORD_ID = 'latency-probe';
/** Records the key holds besides the probe, so the pull reads a realistic table (a page of one record). */
const OTHER_RECORDS = 1000;
/** The daemon's sync.pageWorkerIdleSeconds here (default 600): short, so the bench can meet a stopped worker. */
const WORKER_IDLE_SECONDS = 5;
/** How long a daemon is left alone before its idle RSS is read: past the moment its idle threads exit (the page worker, SQLite's checkpointer). */
const SETTLE_MS = Math.max(WORKER_IDLE_SECONDS * 1000, CHECKPOINTER_IDLE_MS) + 5000;
/** Changes announced after the page worker has exited, each WORKER_IDLE_SECONDS + 2 s after the last. */
const AFTER_EXIT_PROBES = 5;
/** The reader looks this often (a short synchronous sleep between queries: not a core spinning beside the daemon). */
const POLL_SLEEP_MS = 0.2;

export async function benchLatency(options: { engine: Engine; webhooks: number; intervalMs: number; workDir: string }): Promise<LatencyResult> {
    const { engine, webhooks, intervalMs, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 100 });
    const db = await createTestDatabase(engine, workDir);
    const reader = db.reader();
    let daemon: BenchDaemon | undefined;
    try {
        await nango.call('addConnection', { providerConfigKey: KEY.providerConfigKey, connectionId: KEY.connectionId });
        await nango.call('saveGenerated', { key: KEY, count: OTHER_RECORDS, recordBytes: 1000 });
        daemon = await startBenchDaemon(nango, workDir, db.database, { pageWorkerIdleSeconds: WORKER_IDLE_SECONDS });
        await sleep(SETTLE_MS);
        const fresh = rssMb(daemon.child.pid!);
        // The backfill, then the probe record's first version: neither is timed.
        await announce(daemon);
        await nango.call('save', { key: KEY, records: [{ id: RECORD_ID, rev: 0, name: 'probe' }] });
        await announce(daemon);
        await waitVisible(reader, engine, 0, 30_000);

        const visible: number[] = [];
        const acks: number[] = [];
        const requests0 = await fakeRequestCount(nango);
        const cpu0 = cpuSeconds(daemon.child.pid!);
        for (let rev = 1; rev <= webhooks; rev++) {
            const started = performance.now();
            await nango.call('save', { key: KEY, records: [{ id: RECORD_ID, rev, name: 'probe' }] });
            const sent = performance.now();
            const ackedAt = await announce(daemon);
            acks.push(ackedAt - sent);
            const seenAt = await waitVisible(reader, engine, rev, 10_000);
            // Seen before the 2xx reached the bench: the change was visible at the acknowledgement.
            visible.push(Math.max(0, seenAt - ackedAt));
            await sleep(Math.max(0, intervalMs - (performance.now() - started)));
        }
        const cpuMs = (cpuSeconds(daemon.child.pid!) - cpu0) * 1000;
        const requests = (await fakeRequestCount(nango)) - requests0;
        await sleep(SETTLE_MS);
        const afterRun = rssMb(daemon.child.pid!);
        const cold: number[] = [];
        for (let rev = webhooks + 1; rev <= webhooks + AFTER_EXIT_PROBES; rev++) {
            if (rev > webhooks + 1) await sleep(WORKER_IDLE_SECONDS * 1000 + 2000);
            await nango.call('save', { key: KEY, records: [{ id: RECORD_ID, rev, name: 'probe' }] });
            const ackedAt = await announce(daemon);
            cold.push(Math.max(0, (await waitVisible(reader, engine, rev, 10_000)) - ackedAt));
        }
        return {
            engine,
            webhooks,
            intervalMs,
            visible: { p50: percentile(visible, 0.5), p90: percentile(visible, 0.9), p99: percentile(visible, 0.99), max: Math.max(...visible) },
            ack: { p50: percentile(acks, 0.5), p99: percentile(acks, 0.99) },
            nangoRequestsPerWebhook: requests / webhooks,
            cpuMsPerWebhook: cpuMs / webhooks,
            idleRssMb: { fresh, afterRun },
            afterWorkerExit: { count: cold.length, p50: percentile(cold, 0.5), max: Math.max(...cold) },
        };
    } finally {
        await daemon?.stop();
        await reader.close();
        await db.drop();
        await nango.stop();
    }
}

/** Sends the key's signed webhook; resolves with the moment its 2xx arrived. */
async function announce(daemon: BenchDaemon): Promise<number> {
    const signed = signWebhook(syncSuccessBody(KEY), SIGNING_KEY);
    const res = await fetch(`http://127.0.0.1:${daemon.port}/webhooks/nango`, { method: 'POST', body: signed.body, headers: signed.headers });
    const at = performance.now();
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    return at;
}

/** Polls the mirror until the probe record holds `rev`; resolves with the moment it did. */
async function waitVisible(reader: MirrorReader, engine: Engine, rev: number, timeoutMs: number): Promise<number> {
    const sql =
        engine === 'sqlite'
            ? "SELECT json_extract(data, '$.rev') AS rev FROM nango_records WHERE id = ?"
            : "SELECT (data ->> 'rev')::int AS rev FROM nango_records WHERE id = $1";
    const deadline = performance.now() + timeoutMs;
    for (;;) {
        const rows = await reader.all<{ rev: number | null }>(sql, RECORD_ID);
        const now = performance.now();
        if (rows[0] && Number(rows[0].rev) >= rev) return now;
        if (now > deadline) throw new Error(`revision ${rev} of the probe record was not visible within ${timeoutMs} ms`);
        Atomics.wait(SLEEPER, 0, 0, POLL_SLEEP_MS);
    }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Current resident memory of a process (VmRSS), MB. */
function rssMb(pid: number): number {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    return kb / 1024;
}
