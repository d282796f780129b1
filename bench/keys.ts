// Reconcile at many keys (issue 10): N keys over I integrations × 4 models, 3 records each, one fake
// Nango (its own process) and, phase after phase, the built daemon (its own process) on one mirror:
//
// 1. webhook backfill: a signed webhook per key from 32 senders, reconcile off; timed until every
//    key is pulled.
// 2. unchanged pass: a restart, whose start-up pass runs with nothing changed in Nango: its Nango
//    requests (by path), time and keys pulled. The fake's clock runs 10 minutes behind here, so its
//    syncs "ran" before the mirror pulled, past the 2 minutes of clock slack reconcile allows.
//    Then, on the same idle daemon: the status page, `/status.json` and `/metrics`, timed.
// 3. pass with changes: the fake's clock is set right and every key's 3 records change (one sync
//    run each, so `/sync/status` moves every `finishedAt`); a restart, whose start-up pass pulls
//    every key. Probes (probes.ts: a new record and its webhook) are sent while it runs.
// 4. 429 storm: every key changes again and a share of `GET /records` answers are 429 with
//    Retry-After; a restart, and probes over a fixed window of the pass (which crawls: every 429
//    holds back every request for Retry-After), then the daemon stops mid-pass.
// 5. drain: the daemon down, every key changes again and gets a stored pull request, through the
//    store's own `requestPulls` (what a webhook the daemon accepted but had no time to pull
//    leaves); a restart with reconcile off, timed until every key is pulled again.
// 6. discovery backfill: a fresh mirror, `sync.discover` on, reconcile off: discovery lists the
//    fake's connections and syncs and seeds every key; timed until every key is pulled, with
//    probes sent meanwhile (announced changes overtake seeded keys).
//
// Every phase ends with a scrape of the daemon's `/metrics`: its Nango requests by reason and the
// longest event-loop delay since the previous scrape (daemonMetrics.ts), and its peak RSS.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dateToMicroIso } from '../src/domain/timestamps.js';
import { openStore } from '../src/storage/openStore.js';
import { createTestDatabase, type MirrorReader, type TestDatabase } from '../test/helpers/engines.js';
import { spawnFakeNango } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { parseScrape, requestsBetween, scrape, timedGet, type PhaseRequests, type Scrape } from './daemonMetrics.js';
import { startProbes, type ProbeKey, type ProbeSummary } from './probes.js';
import { openRawSender, rawRequest } from './rawSender.js';
import { fakeRequestCount, mainThreadSchedMs, readPeakRssMb, SIGNING_KEY, startBenchDaemon, type BenchDaemon, type Engine } from './shared.js';

export const PHASES = ['webhook backfill', 'unchanged pass', 'status page', '/metrics', 'pass with changes', '429 storm', 'drain', 'discovery backfill'] as const;
export type Phase = (typeof PHASES)[number];

export interface PhaseFigures {
    /** The longest event-loop delay of the daemon during the phase, in ms (10 ms resolution included). */
    stallMs: number;
    /**
     * Of the phase's event-loop delays (bench/stallProbe.mjs, 5 ms resolution), the longest part the
     * daemon held the loop itself: a delay less the time its main thread waited for a core.
     */
    heldMs: number;
    requests: PhaseRequests;
    /** The daemon's peak RSS so far (its process started with the phase, or earlier for sub-phases). */
    peakRssMb: number;
    /** The daemon's main thread during the phase: wall time, CPU time, and time it waited for a core (mainThreadSchedMs). */
    mainThread: { wallMs: number; cpuMs: number; waitMs: number };
}

export interface KeysResult {
    engine: Engine;
    keys: number;
    integrations: number;
    backfillSeconds: number;
    pass: { statusRequests: number; recordsRequests: number; otherRequests: number; keysPulled: number; unchanged: number; durationMs: number };
    changedPass: { keysPulled: number; durationMs: number; probes: ProbeSummary };
    storm: { share: number; retryAfterSeconds: number; windowSeconds: number; probes: ProbeSummary };
    drain: { seconds: number };
    discovery: { seconds: number; probes: ProbeSummary };
    surfaces: { metricsMs: number[]; statusPageMs: number[]; statusJsonMs: number[] };
    phases: Partial<Record<Phase, PhaseFigures>>;
}

const MODELS = ['Contact', 'Deal', 'Company', 'Ticket'];
const RECORDS = { count: 3, recordBytes: 200 };
/** Probes spread over a pass or a backfill: this many, if it lasts as long as the webhook backfill did… */
const PROBES = 200;
/** …but never more often than this (at a few thousand keys, 200 probes would be a tenth of the work). */
const MIN_PROBE_INTERVAL_MS = 100;
/**
 * In the storm every 429 holds back every request for Retry-After, so the daemon gets through about
 * 5 requests a second: one probe a second leaves most of them to the pass, as a few announced
 * changes among many would (probes as fast as the pass's would queue behind each other instead).
 */
export const STORM = { share: 0.2, retryAfterSeconds: 1, probes: 40, intervalMs: 1000 };
const METRICS_SCRAPES = 10;
const STATUS_PAGE_LOADS = 5;

export async function benchReconcileKeys(options: { engine: Engine; keys: number; integrations: number; workDir: string }): Promise<KeysResult> {
    const { engine, keys, integrations, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 5000, clockOffsetMs: -600_000 });
    const db = await createTestDatabase(engine, workDir);
    const reader = db.reader();
    const phases: KeysResult['phases'] = {};
    /** Starts the daemon on `database`, runs `body`, and stops it whatever happens. */
    const withDaemon = async <T>(database: TestDatabase, sync: Record<string, unknown>, body: (daemon: BenchDaemon, mark: Marker) => Promise<T>): Promise<T> => {
        // One file for the run (each daemon's marker counts only delays after it listened), kept for
        // `node bench/heldStacks.mjs` beside a --cpu-prof profile.
        const stallProbe = join(workDir, 'stalls.jsonl');
        const daemon = await startBenchDaemon(nango, workDir, database.database, sync, { stallProbe });
        try {
            return await body(daemon, marker(daemon, phases, stallProbe));
        } finally {
            await daemon.stop();
        }
    };
    try {
        for (let i = 0; i < integrations; i++) await nango.call('setSyncs', { providerConfigKey: `int-${i}`, syncs: [{ name: 'records', models: MODELS }] });
        const keyList: ProbeKey[] = Array.from({ length: keys }, (_, k) => ({
            providerConfigKey: `int-${k % integrations}`,
            connectionId: `conn-${Math.floor(k / (integrations * MODELS.length))}`,
            model: MODELS[Math.floor(k / integrations) % MODELS.length]!,
            variant: 'base',
        }));
        /** Every key's records, at `version` (a sync run per key: its `finishedAt` moves). */
        const changeEveryKey = (version: number) => nango.call('saveGeneratedAll', { keys: keyList, ...RECORDS, version });
        await changeEveryKey(0);

        // 1. Backfill by webhooks, reconcile off.
        const backfillSeconds = await withDaemon(db, {}, async (daemon, mark) => {
            const t0 = performance.now();
            await sendWebhooks(daemon.port, keyList);
            await waitForEveryKey(reader, keys);
            const seconds = (performance.now() - t0) / 1000;
            await mark('webhook backfill');
            return seconds;
        });
        const probeIntervalMs = Math.max(MIN_PROBE_INTERVAL_MS, (backfillSeconds * 1000) / PROBES);
        const probesFor = (daemon: BenchDaemon, label: string, probeReader = reader) =>
            startProbes({ nango, port: daemon.port, reader: probeReader, keys: keyList, label, intervalMs: probeIntervalMs });

        // 2. A restart: the start-up pass, with nothing changed in Nango since the backfill; then the operator surfaces.
        const before = await fakeRequestCount(nango);
        const { pass, surfaces } = await withDaemon(db, { reconcileIntervalSeconds: 3600 }, async (daemon, mark) => {
            const line = await passFinished(daemon);
            const during = (await nango.call<Array<{ n: number; path: string }>>('requests', { last: 5000 })).filter((r) => r.n > before);
            await mark('unchanged pass');
            const statusPageMs = await timeLoads(daemon.adminPort, '/', STATUS_PAGE_LOADS);
            const statusJsonMs = await timeLoads(daemon.adminPort, '/status.json', STATUS_PAGE_LOADS);
            await mark('status page');
            // Each scrape resets the event-loop maximum: the worst of them is this sub-phase's.
            const scrapes = await timeScrapes(daemon.adminPort, METRICS_SCRAPES);
            await mark('/metrics', Math.max(...scrapes.map((s) => s.scrape.stallMs)));
            return {
                pass: {
                    statusRequests: during.filter((r) => r.path === '/sync/status').length,
                    recordsRequests: during.filter((r) => r.path === '/records').length,
                    otherRequests: during.filter((r) => r.path !== '/sync/status' && r.path !== '/records').length,
                    keysPulled: Number(line['keys']),
                    unchanged: Number(line['unchanged']),
                    durationMs: Number(line['durationMs']),
                },
                surfaces: { metricsMs: scrapes.map((s) => s.ms), statusPageMs, statusJsonMs },
            };
        });

        // 3. Every key changed in Nango: the start-up pass pulls them all, and announced changes are measured meanwhile.
        await nango.call('setClockOffset', { ms: 0 });
        await changeEveryKey(1);
        const changedPass = await withDaemon(db, { reconcileIntervalSeconds: 3600 }, async (daemon, mark) => {
            const probes = probesFor(daemon, 'pass');
            const line = await passFinished(daemon);
            const summary = await probes.stop();
            await mark('pass with changes');
            return { keysPulled: Number(line['keys']), durationMs: Number(line['durationMs']), probes: summary };
        });

        // 4. The same pass in a 429 storm, over a fixed window of it.
        await changeEveryKey(2);
        await nango.call('rateLimit429Share', { share: STORM.share, retryAfterSeconds: STORM.retryAfterSeconds, seed: 1 });
        const storm = await withDaemon(db, { reconcileIntervalSeconds: 3600 }, async (daemon, mark) => {
            const t0 = performance.now();
            const probes = startProbes({ nango, port: daemon.port, reader, keys: keyList, label: 'storm', intervalMs: STORM.intervalMs, maxProbes: STORM.probes, countOwn429s: { retryAfterSeconds: STORM.retryAfterSeconds } });
            await sleep(STORM.probes * STORM.intervalMs);
            const summary = await probes.stop();
            await mark('429 storm');
            return { share: STORM.share, retryAfterSeconds: STORM.retryAfterSeconds, windowSeconds: (performance.now() - t0) / 1000, probes: summary };
        });
        await nango.call('clearFaults');

        // 5. With the daemon down, every key changed and requested (as webhooks leave it); a restart drains them.
        await changeEveryKey(3);
        await requestEveryKey(db, keyList);
        const drain = await withDaemon(db, {}, async (_daemon, mark) => {
            const t0 = performance.now();
            await waitForEveryKey(reader, keys);
            const seconds = (performance.now() - t0) / 1000;
            await mark('drain');
            return { seconds };
        });

        // 6. Backfill by discovery into a fresh mirror, announced changes measured meanwhile.
        const freshDir = join(workDir, 'discovery');
        mkdirSync(freshDir, { recursive: true });
        const fresh = await createTestDatabase(engine, freshDir);
        const freshReader = fresh.reader();
        let discovery: KeysResult['discovery'];
        try {
            discovery = await withDaemon(fresh, { discover: true }, async (daemon, mark) => {
                const t0 = performance.now();
                const probes = probesFor(daemon, 'discovery', freshReader);
                await waitForEveryKey(freshReader, keys);
                const seconds = (performance.now() - t0) / 1000;
                const summary = await probes.stop();
                await mark('discovery backfill');
                return { seconds, probes: summary };
            });
        } finally {
            await freshReader.close();
            await fresh.drop();
        }

        return { engine, keys, integrations, backfillSeconds, pass, changedPass, storm, drain, discovery, surfaces, phases };
    } finally {
        await reader.close();
        await db.drop();
        await nango.stop();
    }
}

/** Ends a phase (or a sub-phase) of a daemon: its stall since the previous mark, requests, peak RSS. */
type Marker = (phase: Phase, stallMs?: number) => Promise<void>;

function marker(daemon: BenchDaemon, phases: KeysResult['phases'], stallProbe: string): Marker {
    const pid = daemon.child.pid!;
    let previous: Scrape | undefined;
    let since = { at: performance.now(), ...mainThreadSchedMs(pid) };
    let probeLinesRead = 0;
    return async (phase, stallMs) => {
        const now = await scrape(daemon.adminPort);
        const sched = { at: performance.now(), ...mainThreadSchedMs(pid) };
        const stalls = existsSync(stallProbe) ? readFileSync(stallProbe, 'utf8').split('\n').filter(Boolean) : [];
        const held = stalls
            .slice(probeLinesRead)
            .map((l) => JSON.parse(l) as { at: number; wallMs: number; heldMs: number })
            // Delays that began once the daemon listened: its start-up (modules, migrations; a few
            // hundred ms that end with the line saying it listens) holds nobody up.
            .filter((s) => s.at - s.wallMs >= daemon.listeningAt)
            .map((s) => s.heldMs);
        probeLinesRead = stalls.length;
        phases[phase] = {
            stallMs: Math.max(now.stallMs, stallMs ?? 0),
            heldMs: Math.max(0, ...held),
            requests: requestsBetween(now, previous),
            peakRssMb: readPeakRssMb(pid),
            mainThread: { wallMs: sched.at - since.at, cpuMs: sched.cpuMs - since.cpuMs, waitMs: sched.waitMs - since.waitMs },
        };
        previous = now;
        since = sched;
    };
}

/** One signed sync webhook per key, from 32 keep-alive senders. */
async function sendWebhooks(port: number, keyList: readonly ProbeKey[]): Promise<void> {
    const senders = await Promise.all(Array.from({ length: 32 }, () => openRawSender(port)));
    let next = 0;
    await Promise.all(
        senders.map(async (sender) => {
            while (next < keyList.length) {
                const signed = signWebhook(syncSuccessBody(keyList[next++]!), SIGNING_KEY);
                const status = await sender.send(rawRequest('/webhooks/nango', signed.headers, signed.body));
                if (status !== 200) throw new Error(`a webhook was answered ${status}`);
            }
            sender.close();
        }),
    );
}

/** Until every one of the `keys` keys has been pulled since its last request. */
async function waitForEveryKey(reader: MirrorReader, keys: number): Promise<void> {
    for (;;) {
        const [row] = await reader.all<{ n: number }>("SELECT count(*) AS n FROM nango_sync_state WHERE status = 'ok' AND done_seq >= request_seq");
        if (Number(row?.n) === keys) return;
        await sleep(200);
    }
}

/** A stored, announced pull request for every key, through the store's own code (the daemon is down). */
async function requestEveryKey(db: TestDatabase, keyList: readonly ProbeKey[]): Promise<void> {
    const store = await openStore({ url: db.database.url, schema: db.database.schema ?? 'public' });
    try {
        await store.requests.requestPulls(keyList, dateToMicroIso(new Date()));
    } finally {
        await store.close();
    }
}

function passFinished(daemon: BenchDaemon): Promise<Record<string, unknown>> {
    return daemon.log.next((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('reconcile pass found'));
}

async function timeLoads(port: number, path: string, n: number): Promise<number[]> {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push((await timedGet(port, path)).ms);
    return ms;
}

async function timeScrapes(port: number, n: number): Promise<Array<{ ms: number; scrape: Scrape }>> {
    const out: Array<{ ms: number; scrape: Scrape }> = [];
    for (let i = 0; i < n; i++) {
        const { ms, body } = await timedGet(port, '/metrics');
        out.push({ ms, scrape: parseScrape(body) });
    }
    return out;
}
