// Webhook flood (issue 5 item 1): many concurrent senders post signed webhooks over many keys to the
// built daemon (its own process); the fake Nango (its own process) serves the pulls. Reports
// webhooks/s, ack latency p50/p99, the daemon's peak RSS and CPU, and checks that every key ends exact.
import { mkdirSync, rmSync } from 'node:fs';
import { createTestDatabase, type MirrorReader } from '../test/helpers/engines.js';
import { spawnFakeNango } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { openRawSender, rawRequest } from './rawSender.js';
import { cpuSeconds, fakeRequestCount, readPeakRssMb, SIGNING_KEY, startBenchDaemon, type Engine } from './shared.js';
import { percentile } from './stats.js';

export interface FloodResult {
    engine: Engine;
    webhooks: number;
    keys: number;
    senders: number;
    seconds: number;
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** p99 over each tenth of the webhooks, in the order they were answered: where the slow ones were. */
    p99ByTenthMs: number[];
    non2xx: number;
    peakRssMb: number;
    exactKeys: number;
    /** `GET /records` requests the flood caused: fewer than webhooks when requests coalesced. */
    nangoRequests: number;
    /** CPU per webhook while the flood ran (all threads), in ms: steadier than wall time on a shared machine. */
    cpuMsPerWebhook: { daemon: number; fakeNango: number; senders: number };
}

const RECORDS_PER_KEY = 5;

export async function benchWebhookFlood(options: { engine: Engine; webhooks: number; keys: number; senders: number; workDir: string }): Promise<FloodResult> {
    const { engine, webhooks, keys, senders, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 100 });
    const keyList = Array.from({ length: keys }, (_, i) => ({ providerConfigKey: 'bench', connectionId: `conn-${i}`, model: 'Contact', variant: 'base' }));
    const db = await createTestDatabase(engine, workDir);
    const reader = db.reader();
    try {
        for (const key of keyList) {
            await nango.call('addConnection', { providerConfigKey: key.providerConfigKey, connectionId: key.connectionId });
            await nango.call('saveGenerated', { key, count: RECORDS_PER_KEY, recordBytes: 500 });
        }
        await warmUpFake(nango, keyList);
        const daemon = await startBenchDaemon(nango, workDir, db.database);
        try {
            const requests = keyList.map((k) => {
                const signed = signWebhook(syncSuccessBody(k), SIGNING_KEY);
                return rawRequest('/webhooks/nango', signed.headers, signed.body);
            });
            // Keep-alive connections, as Nango's sender (axios) keeps; opened before the clock starts.
            const connections = await Promise.all(Array.from({ length: senders }, () => openRawSender(daemon.port)));
            const latencies: number[] = [];
            let non2xx = 0;
            let next = 0;
            const requests0 = await fakeRequestCount(nango);
            const cpu0 = { daemon: cpuSeconds(daemon.child.pid!), fakeNango: cpuSeconds(nango.child.pid!), senders: process.cpuUsage() };
            const t0 = performance.now();
            await Promise.all(
                connections.map(async (connection) => {
                    for (;;) {
                        const i = next++;
                        if (i >= webhooks) return;
                        const start = performance.now();
                        const status = await connection.send(requests[i % keys]!);
                        latencies.push(performance.now() - start);
                        if (status < 200 || status >= 300) non2xx++;
                    }
                }),
            );
            const seconds = (performance.now() - t0) / 1000;
            for (const c of connections) c.close();
            const sendersCpu = process.cpuUsage(cpu0.senders);
            const cpuMsPerWebhook = {
                daemon: ((cpuSeconds(daemon.child.pid!) - cpu0.daemon) * 1000) / webhooks,
                fakeNango: ((cpuSeconds(nango.child.pid!) - cpu0.fakeNango) * 1000) / webhooks,
                senders: (sendersCpu.user + sendersCpu.system) / 1000 / webhooks,
            };
            const exactKeys = await countExactKeys(reader);
            const peakRssMb = readPeakRssMb(daemon.child.pid!);
            const nangoRequests = (await fakeRequestCount(nango)) - requests0;
            const tenth = Math.ceil(latencies.length / 10);
            const p99ByTenthMs = Array.from({ length: 10 }, (_, i) => percentile(latencies.slice(i * tenth, (i + 1) * tenth), 0.99));
            return {
                engine,
                webhooks,
                keys,
                senders,
                seconds,
                perSecond: webhooks / seconds,
                p50Ms: percentile(latencies, 0.5),
                p99Ms: percentile(latencies, 0.99),
                maxMs: Math.max(...latencies),
                p99ByTenthMs,
                non2xx,
                peakRssMb,
                exactKeys,
                nangoRequests,
                cpuMsPerWebhook,
            };
        } finally {
            await daemon.stop();
        }
    } finally {
        await reader.close();
        await db.drop();
        await nango.stop();
        rmSync(workDir, { recursive: true, force: true });
    }
}

/** Waits until every stored request is covered by a finished pull, then counts keys with all their records. */
async function countExactKeys(reader: MirrorReader): Promise<number> {
    for (let i = 0; i < 600; i++) {
        const [pending] = await reader.all<{ n: number | string }>('SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq');
        if (Number(pending?.n) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    const counts = await reader.all<{ status: string; n: number | string }>(
        'SELECT s.status, (SELECT count(*) FROM nango_records r WHERE r.connection_id = s.connection_id) AS n FROM nango_sync_state s',
    );
    return counts.filter((r) => r.status === 'ok' && Number(r.n) === RECORDS_PER_KEY).length;
}

/**
 * Reads every key once straight from the fake, before the daemon starts: the fake's JIT warm-up
 * is the harness's, not the daemon's, and on 2 shared cores it would land in the first webhooks.
 */
async function warmUpFake(nango: Awaited<ReturnType<typeof spawnFakeNango>>, keys: Array<{ providerConfigKey: string; connectionId: string; model: string }>): Promise<void> {
    for (const key of keys) {
        const res = await fetch(`${nango.baseUrl}/records?model=${key.model}&limit=1000`, {
            headers: { authorization: `Bearer ${nango.apiKey}`, 'connection-id': key.connectionId, 'provider-config-key': key.providerConfigKey },
        });
        if (res.status !== 200) throw new Error(`the fake answered ${res.status} to a warm-up read`);
        await res.arrayBuffer();
    }
}
