// Webhook flood (issue 5 item 1): many concurrent senders post signed webhooks over many keys to the
// built daemon (its own process, SQLite); the fake Nango (its own process) serves the pulls. Reports
// webhooks/s, ack latency p50/p99, the daemon's peak RSS, and checks that every key ends exact.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnFakeNango } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { cpuSeconds, logLines, readPeakRssMb } from './shared.js';

export interface FloodResult {
    webhooks: number;
    keys: number;
    senders: number;
    seconds: number;
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    non2xx: number;
    peakRssMb: number;
    exactKeys: number;
    /** `GET /records` requests the flood caused: fewer than webhooks when requests coalesced. */
    nangoRequests: number;
    /** CPU per webhook while the flood ran (all threads), in ms: steadier than wall time on a shared machine. */
    cpuMsPerWebhook: { daemon: number; fakeNango: number; senders: number };
}

const SIGNING_KEY = 'bench-flood-signing-key';
const RECORDS_PER_KEY = 5;

export async function benchWebhookFlood(options: { webhooks: number; keys: number; senders: number; workDir: string }): Promise<FloodResult> {
    const { webhooks, keys, senders, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 100 });
    const keyList = Array.from({ length: keys }, (_, i) => ({ providerConfigKey: 'bench', connectionId: `conn-${i}`, model: 'Contact', variant: 'base' }));
    try {
        for (const key of keyList) {
            await nango.call('addConnection', { providerConfigKey: key.providerConfigKey, connectionId: key.connectionId });
            await nango.call('saveGenerated', { key, count: RECORDS_PER_KEY, recordBytes: 500 });
        }
        const dbPath = join(workDir, 'mirror.db');
        const configPath = join(workDir, 'config.json');
        writeFileSync(
            configPath,
            JSON.stringify({
                nango: { host: nango.baseUrl, apiKey: nango.apiKey, webhookSigningKey: SIGNING_KEY },
                server: { host: '127.0.0.1', port: 0 },
                database: { url: `sqlite:${dbPath}` },
                sync: { reconcileIntervalSeconds: 0 },
                // The start-up line (with the port) is an info line.
                logLevel: 'info',
            }),
        );
        const child = spawn(process.execPath, [...(process.env['BENCH_DAEMON_NODE_ARGS']?.split(' ').filter(Boolean) ?? []), 'dist/cli.js', 'serve', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
        const log = logLines(child);
        try {
            const port = await portOf(log);
            const bodies = keyList.map((k) => signWebhook(syncSuccessBody(k), SIGNING_KEY));
            // node:http with keep-alive, as Nango's own sender (axios) is: fetch would cost the
            // senders several times the CPU, taken from the 2 cores the daemon runs on.
            const agent = new Agent({ keepAlive: true, maxSockets: senders });
            const latencies: number[] = [];
            let non2xx = 0;
            let next = 0;
            const requests0 = (await nango.call<{ requestCount: number }>('stats')).requestCount;
            const cpu0 = { daemon: cpuSeconds(child.pid!), fakeNango: cpuSeconds(nango.child.pid!), senders: process.cpuUsage() };
            const t0 = performance.now();
            await Promise.all(
                Array.from({ length: senders }, async () => {
                    for (;;) {
                        const i = next++;
                        if (i >= webhooks) return;
                        const signed = bodies[i % keys]!;
                        const start = performance.now();
                        const status = await post(agent, port, signed);
                        latencies.push(performance.now() - start);
                        if (status < 200 || status >= 300) non2xx++;
                    }
                }),
            );
            const seconds = (performance.now() - t0) / 1000;
            agent.destroy();
            const sendersCpu = process.cpuUsage(cpu0.senders);
            const cpuMsPerWebhook = {
                daemon: ((cpuSeconds(child.pid!) - cpu0.daemon) * 1000) / webhooks,
                fakeNango: ((cpuSeconds(nango.child.pid!) - cpu0.fakeNango) * 1000) / webhooks,
                senders: (sendersCpu.user + sendersCpu.system) / 1000 / webhooks,
            };
            // Every key ends exact: all requests covered, every record of every key in the mirror.
            const db = new Database(dbPath, { readonly: true });
            let exactKeys = 0;
            for (let i = 0; i < 600; i++) {
                const pending = (db.prepare('SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq').get() as { n: number }).n;
                if (pending === 0) break;
                await new Promise((r) => setTimeout(r, 100));
            }
            const counts = db
                .prepare("SELECT s.connection_id AS c, s.status, (SELECT count(*) FROM nango_records r WHERE r.connection_id = s.connection_id) AS n FROM nango_sync_state s")
                .all() as Array<{ c: string; status: string; n: number }>;
            exactKeys = counts.filter((r) => r.status === 'ok' && r.n === RECORDS_PER_KEY).length;
            db.close();
            const peakRssMb = readPeakRssMb(child.pid!);
            const nangoRequests = (await nango.call<{ requestCount: number }>('stats')).requestCount - requests0;
            if (process.env['BENCH_VERBOSE']) {
                const { readdirSync, readFileSync } = await import('node:fs');
                for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
                    const stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
                    const name = /\((.*)\)/.exec(stat)?.[1];
                    const f = stat.split(') ')[1]!.split(' ');
                    const cpu = (Number(f[11]) + Number(f[12])) / 100;
                    if (cpu > 0.05) console.log(`thread ${tid} ${name}: ${cpu.toFixed(2)} s`);
                }
                const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
                console.log(m.split('\n').filter((l) => /^(nodejs_heap_size|nodejs_external|process_resident|nodejs_heap_space_size_used)/.test(l)).join('\n'));
            }
            if (process.env['BENCH_VERBOSE']) {
                const seg = Number(process.env["BENCH_SEGMENT"] ?? Math.ceil(latencies.length / 10));
                for (let i = 0; i < latencies.length; i += seg) {
                    const part = latencies.slice(i, i + seg).sort((a, b) => a - b);
                    console.log(`  webhooks ${i}..${i + part.length}: p50 ${part[Math.floor(part.length / 2)]!.toFixed(1)} p99 ${part[Math.floor(part.length * 0.99)]!.toFixed(1)} max ${part.at(-1)!.toFixed(1)}`);
                }
            }
            latencies.sort((a, b) => a - b);
            const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
            return { webhooks, keys, senders, seconds, perSecond: webhooks / seconds, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: latencies.at(-1)!, non2xx, peakRssMb, exactKeys, nangoRequests, cpuMsPerWebhook };
        } finally {
            child.kill('SIGTERM');
            await log.exited;
        }
    } finally {
        await nango.stop();
    }
}

async function portOf(log: ReturnType<typeof logLines>): Promise<number> {
    const started = await log.next((l) => l['msg'] === 'nango-mirror is running');
    return Number(started['port']);
}

/** One POST; resolves with the status once the whole answer is read. */
function post(agent: Agent, port: number, signed: { body: string; headers: Record<string, string> }): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/webhooks/nango', headers: { ...signed.headers, 'content-length': Buffer.byteLength(signed.body) } }, (res) => {
            res.resume();
            res.once('end', () => resolve(res.statusCode ?? 0));
            res.once('error', reject);
        });
        req.once('error', reject);
        req.end(signed.body);
    });
}
