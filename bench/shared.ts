// What every engine's ingest benchmark shares: the loaded fake Nango (its own process), the
// daemon child process (the built dist/cli.js) and its one-webhook pull, the ceiling's rows, and
// the rounds with their median. Each engine supplies only its ceiling and its database.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnFakeNango, type FakeNangoProcess } from '../test/fakes/fakeNangoProcess.js';
import { generatedRecord } from '../test/fakes/generatedRecords.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/lib/leanHeap.js';
import { median as medianOf } from './stats.js';

export type Engine = 'sqlite' | 'postgres';

/** `--changes` (or $BENCH_CHANGES): the daemon's `changes.enabled`; `both` runs it on and off in each round, alternating which goes first. */
export type ChangesMode = 'on' | 'off' | 'both';

export interface IngestRound {
    daemonSeconds: number;
    /** Of which the daemon spent this long in its page commits (its own `commitMs`). */
    daemonCommitSeconds: number;
    ceilingSeconds: number;
    ratio: number;
    peakRssMb: number;
    /** CPU seconds of the pull: every thread of the daemon, plus (Postgres) its server backends. */
    daemonCpuSeconds: number;
    /** CPU seconds of the ceiling's transactions: the bench process, plus (Postgres) its backend. */
    ceilingCpuSeconds: number;
    /** With `--changes both`: the same round's daemon with `changes.enabled` false. */
    daemonOffSeconds?: number;
    daemonOffCpuSeconds?: number;
    /** With $BENCH_AB: the variant the round's daemon ran with. */
    variant?: string;
}

export interface IngestResult {
    engine: Engine;
    records: number;
    daemonSeconds: number;
    daemonRate: number;
    ceilingSeconds: number;
    ceilingRate: number;
    ratio: number;
    peakRssMb: number;
    rounds: IngestRound[];
    /** The daemon's `changes.enabled` in these rounds. */
    changes: ChangesMode;
    /** Medians of the rounds' CPU per 1,000 records, in ms: the daemon's (all threads, plus Postgres backends) and the ceiling's. */
    daemonCpuMsPer1000: number;
    ceilingCpuMsPer1000: number;
    /** With `--changes both`: medians of the rounds' daemon times with the log off, and of each round's on/off time ratio (the log's cost: 1.10 = 10 % slower), and of its on/off CPU ratio. */
    daemonOffRate?: number;
    changeLogCost?: number;
    changeLogCpuCost?: number;
}

/** One round's database, set up by the engine: the ceiling's and the daemon's are separate and empty. */
export interface EngineRound {
    /** Seconds spent inside the ceiling's insert transactions only, and the CPU seconds they took (client and server). */
    ceiling(): Promise<{ seconds: number; cpuSeconds: number }>;
    /** `database` for the daemon's config. */
    database: { url: string; schema?: string };
    /** Rows in the daemon's `nango_records` once its pull has finished. */
    countDaemonRecords(): Promise<number>;
    /** Removes what the round created (also after a failure). */
    dispose(): Promise<void>;
}

export const SIGNING_KEY = 'bench-signing-key';
export const KEY = { providerConfigKey: 'bench', connectionId: 'conn-1', model: 'Contact', variant: 'base' };
export const PAGE_SIZE = 1000;
const envArgs = (name: string) => process.env[name]?.split(' ').filter(Boolean) ?? [];

/**
 * Alternates ceiling and daemon `rounds` times against one loaded fake and reports the median
 * round: a shared 2-core machine is noisy (fsync latency, CPU steal), and a median of paired
 * measurements taken moments apart is what a ratio can honestly claim.
 */
export async function benchRounds(
    engine: Engine,
    records: number,
    workDir: string,
    rounds: number,
    newRound: (dir: string) => Promise<EngineRound>,
    changes: ChangesMode = 'on',
): Promise<IngestResult> {
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnLoadedFake(records);
    const results: IngestRound[] = [];
    try {
        for (let round = 0; round < rounds; round++) {
            // `both`: the log on and off in the same round, each in a fresh database, alternating which goes first.
            const modes: Array<'on' | 'off'> = changes === 'both' ? (round % 2 === 0 ? ['on', 'off'] : ['off', 'on']) : [changes];
            let ceiling: { seconds: number; cpuSeconds: number } | undefined;
            let variant: string | undefined;
            const seconds: Partial<Record<'on' | 'off', DaemonRun>> = {};
            for (const mode of modes) {
                const dir = join(workDir, `round-${round}-${mode}`);
                mkdirSync(dir, { recursive: true });
                const db = await newRound(dir);
                try {
                    ceiling ??= await db.ceiling();
                    const daemon = await runDaemon(nango, dir, db.database, { enabled: mode === 'on' });
                    variant = lastVariant;
                    if (daemon.records !== records) throw new Error(`the daemon pulled ${daemon.records} records, expected ${records}`);
                    const count = await db.countDaemonRecords();
                    if (count !== records) throw new Error(`the mirror holds ${count} records, expected ${records}`);
                    seconds[mode] = daemon;
                } finally {
                    await db.dispose();
                    rmSync(dir, { recursive: true, force: true });
                }
            }
            const main = seconds[changes === 'off' ? 'off' : 'on']!;
            const r: IngestRound = {
                daemonSeconds: main.seconds,
                daemonCommitSeconds: main.commitSeconds,
                daemonCpuSeconds: main.cpuSeconds,
                ceilingSeconds: ceiling!.seconds,
                ceilingCpuSeconds: ceiling!.cpuSeconds,
                ratio: ceiling!.seconds / main.seconds,
                peakRssMb: Math.max(...Object.values(seconds).map((d) => d.peakRssMb)),
                ...(changes === 'both' ? { daemonOffSeconds: seconds.off!.seconds, daemonOffCpuSeconds: seconds.off!.cpuSeconds } : {}),
                ...(variant !== undefined ? { variant } : {}),
            };
            const perThousand = (cpu: number) => `${((cpu * 1000 * 1000) / records).toFixed(1)}`;
            results.push(r);
            console.log(
                `  round ${round + 1}/${rounds}: daemon ${r.daemonSeconds.toFixed(2)} s (commits ${r.daemonCommitSeconds.toFixed(2)} s)` +
                    (r.daemonOffSeconds === undefined
                        ? ', '
                        : ` with the change log, ${r.daemonOffSeconds.toFixed(2)} s (commits ${seconds.off!.commitSeconds.toFixed(2)} s) without (${modes[0]} first): on/off ${(r.daemonSeconds / r.daemonOffSeconds).toFixed(3)}, CPU on/off ${(r.daemonCpuSeconds / r.daemonOffCpuSeconds!).toFixed(3)}; `) +
                    `ceiling ${r.ceilingSeconds.toFixed(2)} s, ratio ${r.ratio.toFixed(3)}, peak RSS ${r.peakRssMb.toFixed(0)} MB; ` +
                    `CPU ms per 1,000 records: daemon ${perThousand(r.daemonCpuSeconds)}, ceiling ${perThousand(r.ceilingCpuSeconds)}`,
            );
        }
    } finally {
        await nango.stop();
    }
    printVariants(results);
    const median = [...results].sort((a, b) => a.ratio - b.ratio)[Math.floor(results.length / 2)]!;
    const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    return {
        engine,
        records,
        daemonSeconds: median.daemonSeconds,
        daemonRate: records / median.daemonSeconds,
        ceilingSeconds: median.ceilingSeconds,
        ceilingRate: records / median.ceilingSeconds,
        ratio: median.ratio,
        peakRssMb: Math.max(...results.map((r) => r.peakRssMb)),
        rounds: results,
        changes,
        daemonCpuMsPer1000: (middle(results.map((r) => r.daemonCpuSeconds)) * 1e6) / records,
        ceilingCpuMsPer1000: (middle(results.map((r) => r.ceilingCpuSeconds)) * 1e6) / records,
        ...(changes === 'both'
            ? {
                  daemonOffRate: records / middle(results.map((r) => r.daemonOffSeconds!)),
                  changeLogCost: middle(results.map((r) => r.daemonSeconds / r.daemonOffSeconds!)),
                  changeLogCpuCost: middle(results.map((r) => r.daemonCpuSeconds / r.daemonOffCpuSeconds!)),
              }
            : {}),
    };
}

/**
 * The fake Nango in its own process, holding `records` generated records of ~1 KB under KEY
 * (ids 0 … records − 1, saved 1000 to a transaction, so page k of the pull holds ids k × 1000 …).
 * A million records take about 20 s to load and 1.6 GB of the fake's memory, hence the large heap.
 */
export async function spawnLoadedFake(records: number): Promise<FakeNangoProcess> {
    const nango = await spawnFakeNango({ maxLog: 100, nodeArgs: ['--max-old-space-size=4096', ...envArgs('BENCH_FAKE_NODE_ARGS')] });
    try {
        await nango.call('addConnection', { providerConfigKey: KEY.providerConfigKey, connectionId: KEY.connectionId });
        await nango.call('saveGenerated', { key: KEY, count: records, recordBytes: 1000, batchSize: PAGE_SIZE });
    } catch (err) {
        await nango.stop();
        throw err;
    }
    return nango;
}

/** Requests the fake has answered so far (any route, any status). */
export async function fakeRequestCount(nango: FakeNangoProcess): Promise<number> {
    return (await nango.call<{ requestCount: number }>('stats')).requestCount;
}

/**
 * The ceiling's rows for records [start, end): the 13 columns of `nango_records` in table order,
 * with the payload the daemon stores (the record without `_nango_metadata`, id as a string).
 */
export function ceilingRows(start: number, end: number): unknown[][] {
    const ts = '2026-11-22T10:00:00.123456Z';
    const rows: unknown[][] = [];
    for (let i = start; i < end; i++) {
        const payload = { ...generatedRecord(i), id: String(i) };
        const cursor = Buffer.from(`2026-11-22T10:00:00.123456+00:00||00000000-0000-5000-8000-${String(i).padStart(12, '0')}`).toString('base64');
        rows.push([KEY.providerConfigKey, KEY.connectionId, KEY.model, KEY.variant, String(i), JSON.stringify(payload), 'ADDED', null, null, ts, ts, cursor, ts]);
    }
    return rows;
}

interface PullFinished {
    msg: 'pull finished';
    outcome: string;
    records: number;
    durationMs: number;
    commitMs: number;
    pageWaitMs: number;
    firstPageMs: number;
    error?: string;
}

export interface BenchDaemon {
    child: ChildProcess;
    /** The public listener (webhooks). */
    port: number;
    /** The operator listener (`/metrics`, the status page, `/status.json`). */
    adminPort: number;
    log: LogLines;
    /** When the daemon logged that it listens (epoch ms, its own clock). */
    listeningAt: number;
    /** SIGTERM, and resolves once the process has exited. */
    stop(): Promise<void>;
}

/** bench/stallProbe.mjs: loaded into the daemon to say how much of each event-loop delay it held the loop itself. */
const STALL_PROBE = join(import.meta.dirname, 'stallProbe.mjs');

/**
 * Starts the built daemon (dist/, its own process, node args from $BENCH_DAEMON_NODE_ARGS) on
 * `database` against `nango`, and resolves once it listens. Reconcile is off: only webhooks pull.
 * `stallProbe`: a file the daemon appends its event-loop delays to (bench/stallProbe.mjs); `changes`: the config's `changes` section.
 * With $BENCH_DAEMON_STDOUT set, every line the daemon writes to stdout is appended to that file
 * (e.g. with BENCH_DAEMON_NODE_ARGS=--trace-gc).
 */
export async function startBenchDaemon(
    nango: FakeNangoProcess,
    dir: string,
    database: EngineRound['database'],
    sync: Record<string, unknown> = {},
    options: { stallProbe?: string; changes?: Record<string, unknown> } = {},
): Promise<BenchDaemon> {
    const configPath = join(dir, 'config.json');
    writeFileSync(
        configPath,
        JSON.stringify({
            nango: { host: nango.baseUrl, apiKey: nango.apiKey, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database,
            sync: { reconcileIntervalSeconds: 0, ...sync },
            changes: options.changes ?? {},
            // The lines the benches wait for (started, `pull finished`) are info lines.
            logLevel: 'info',
        }),
    );
    applyNextVariant();
    const probe = options.stallProbe ? ['--import', STALL_PROBE] : [];
    // As `npm start` and the image start it (DAEMON_NODE_FLAGS, DAEMON_ENV), then $BENCH_DAEMON_NODE_ARGS.
    const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...envArgs('BENCH_DAEMON_NODE_ARGS'), ...probe, 'dist/cli.js', 'serve', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ...DAEMON_ENV, ...(options.stallProbe ? { NANGO_MIRROR_STALL_PROBE: options.stallProbe } : {}) },
    });
    const log = logLines(child);
    const stop = async () => {
        child.kill('SIGTERM');
        await log.exited;
    };
    try {
        const started = await log.next((l) => l['msg'] === 'nango-mirror is running');
        return { child, port: Number(started['port']), adminPort: Number(started['adminPort']), listeningAt: Number(started['time']), log, stop };
    } catch (err) {
        await stop();
        throw err;
    }
}

/**
 * Starts the built daemon on `database`, sends one signed webhook and times it until the daemon
 * logs `pull finished` (outcome ok): the same moment for every engine, with no reader of its own.
 */
export interface DaemonRun {
    seconds: number;
    commitSeconds: number;
    /** CPU seconds from the webhook to `pull finished`: every thread of the daemon, plus its Postgres backends. */
    cpuSeconds: number;
    records: number;
    peakRssMb: number;
}

export async function runDaemon(
    nango: FakeNangoProcess,
    dir: string,
    database: EngineRound['database'],
    changes: { enabled?: boolean } = {},
): Promise<DaemonRun> {
    const daemon = await startBenchDaemon(nango, dir, database, { pageSize: PAGE_SIZE }, { changes });
    const pid = daemon.child.pid!;
    const serverCpu = () => (database.url.startsWith('postgres') ? postgresBackendSeconds(database.url, pid) : Promise.resolve(0));
    try {
        const signed = signWebhook(syncSuccessBody(KEY), SIGNING_KEY);
        const cpu0 = cpuSeconds(pid) + (await serverCpu());
        const sched0 = mainThreadSchedMs(pid);
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${daemon.port}/webhooks/nango`, { method: 'POST', body: signed.body, headers: signed.headers });
        if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
        const pull = (await daemon.log.next((l) => l['msg'] === 'pull finished')) as unknown as PullFinished;
        const seconds = (performance.now() - t0) / 1000;
        const daemonCpu = cpuSeconds(pid);
        const sched = mainThreadSchedMs(pid);
        const server = await serverCpu();
        if (pull.outcome !== 'ok') throw new Error(`the pull finished ${pull.outcome}: ${pull.error ?? ''}`);
        const peakRssMb = readPeakRssMb(pid);
        if (process.env['BENCH_VERBOSE']) {
            const threads = threadCpuSeconds(pid);
            console.log(
                `  (daemon: pull ${pull.durationMs} ms, of which commits ${pull.commitMs} ms, waiting for pages ${pull.pageWaitMs} ms (the first ${pull.firstPageMs} ms); ` +
                    `cpu seconds by thread: ${Object.entries(threads).map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ')}; ` +
                    `main thread in the pull: on a core ${((sched.cpuMs - sched0.cpuMs) / 1000).toFixed(2)} s, waiting for one ${((sched.waitMs - sched0.waitMs) / 1000).toFixed(2)} s; ` +
                    `cpu seconds so far: daemon ${daemonCpu.toFixed(2)}, fake nango ${cpuSeconds(nango.child.pid!).toFixed(2)} (${await fakeRequestCount(nango)} requests)` +
                    `${database.url.startsWith('postgres') ? `, its Postgres backends ${server.toFixed(2)}` : ''}, wall ${seconds.toFixed(2)})`,
            );
        }
        return { seconds, commitSeconds: pull.commitMs / 1000, cpuSeconds: daemonCpu + server - cpu0, records: pull.records, peakRssMb };
    } finally {
        await daemon.stop();
    }
}

let variantsApplied = 0;
/** The variant the last daemon started with (undefined without $BENCH_AB). */
let lastVariant: string | undefined;
/**
 * $BENCH_AB (`NAME=value,NAME2=value|NAME=other`): each daemon start takes the next variant's
 * environment variables, in turn, so two settings of the daemon (an env knob, or
 * BENCH_DAEMON_NODE_ARGS) are measured round by round in one run, against one loaded fake, instead
 * of in runs minutes apart on a shared machine. Each start prints its variant, before the round's lines.
 */
function applyNextVariant(): void {
    const ab = process.env['BENCH_AB'];
    if (!ab) return;
    const variants = ab.split('|');
    const variant = variants[variantsApplied++ % variants.length]!;
    lastVariant = variant;
    console.log(`  [variant ${variant}]`);
    for (const pair of variant.split(',').filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new Error(`BENCH_AB: ${JSON.stringify(pair)} is not NAME=value`);
        process.env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
}

/** With $BENCH_AB, each variant's rounds side by side: the median ratio and daemon time, and every ratio. */
function printVariants(rounds: IngestRound[]): void {
    const byVariant = new Map<string, IngestRound[]>();
    for (const r of rounds) if (r.variant !== undefined) byVariant.set(r.variant, [...(byVariant.get(r.variant) ?? []), r]);
    if (byVariant.size === 0) return;
    console.log('by variant:');
    for (const [variant, rs] of byVariant) {
        const ratios = rs.map((r) => r.ratio);
        console.log(`  ${variant}: ${rs.length} rounds, median ratio ${medianOf(ratios).toFixed(3)}, median daemon ${medianOf(rs.map((r) => r.daemonSeconds)).toFixed(2)} s; ratios ${ratios.map((x) => x.toFixed(3)).join(' ')}`);
    }
}

type LogLine = Record<string, unknown>;

interface LogLines {
    next(match: (l: LogLine) => boolean): Promise<LogLine>;
    exited: Promise<unknown>;
}

/** The daemon's JSON log lines, awaited in order; rejects if the daemon exits before the awaited line. */
export function logLines(child: ChildProcess): LogLines {
    const lines: LogLine[] = [];
    let seen = 0;
    let wake: (() => void) | undefined;
    let exitError: Error | undefined;
    const exited = new Promise((resolve) =>
        child.once('exit', (code, signal) => {
            exitError = new Error(`the daemon exited (${code ?? signal}) before it logged what the bench waits for`);
            wake?.();
            resolve(undefined);
        }),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
        if (process.env['BENCH_DAEMON_STDOUT']) appendFileSync(process.env['BENCH_DAEMON_STDOUT'], `${line}\n`);
        try {
            lines.push(JSON.parse(line) as LogLine);
        } catch {
            return;
        }
        wake?.();
    });
    return {
        async next(match) {
            for (;;) {
                while (seen < lines.length) {
                    const l = lines[seen++]!;
                    if (match(l)) return l;
                }
                if (exitError) throw exitError;
                await new Promise<void>((resolve) => (wake = resolve));
                wake = undefined;
            }
        },
        exited,
    };
}

/**
 * CPU seconds used so far by the Postgres backends serving `pid`'s open connections (a local
 * server): the backends are the `pg_stat_activity` rows whose client port is a port of one of the
 * process's sockets. The server's side of the daemon's work, which the daemon's own CPU does not show.
 */
export async function postgresBackendSeconds(url: string, pid: number): Promise<number> {
    const inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' });
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (m) inodes.add(m[1]!);
    }
    const ports = new Set<number>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
        for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
            const f = line.trim().split(/\s+/);
            if (f.length > 9 && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
        }
    }
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
        const { rows } = await client.query<{ pid: number; port: number }>(
            "SELECT pid, client_port AS port FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        );
        return rows.filter((r) => ports.has(r.port)).reduce((sum, r) => sum + cpuSeconds(r.pid), 0);
    } finally {
        await client.end();
    }
}

/**
 * CPU seconds used so far by each kind of thread of a process, by the thread's name: `main` (the
 * event loop), the page worker (`WorkerThread`, named by Node), libuv's pool (`libuv-worker`: fsync,
 * DNS), V8's helpers (`V8 DefaultWorke`: concurrent GC and compilation), SQLite's checkpointer
 * (a second `WorkerThread`).
 */
export function threadCpuSeconds(pid: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
        let stat: string;
        try {
            stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        } catch {
            continue;
        }
        const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        // With BENCH_TIDS, each thread on its own: id, name, nice, start time (clock ticks after boot).
        const name = Number(tid) === pid ? 'main' : process.env['BENCH_TIDS'] ? `${tid}/${comm}/nice ${fields[16]}/start ${fields[19]}` : comm;
        out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    }
    return out;
}

/** User + system CPU seconds a process has used so far (all its threads). */
export function cpuSeconds(pid: number): number {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A process's main thread (the daemon's event loop): CPU time used, and time spent ready to run but
 * waiting for a core (`/proc/<pid>/task/<pid>/schedstat`), in ms. On a shared machine the wait is
 * what other processes took: an event-loop delay includes it.
 */
export function mainThreadSchedMs(pid: number): { cpuMs: number; waitMs: number } {
    const [cpuNs, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { cpuMs: (cpuNs ?? NaN) / 1e6, waitMs: (waitNs ?? NaN) / 1e6 };
}

export function readPeakRssMb(pid: number): number {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return kb / 1024;
}
