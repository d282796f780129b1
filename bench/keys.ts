// Reconcile at many keys (issue 10): N keys over I integrations × 4 models, a few records each,
// backfilled by webhooks; then the daemon restarts and its start-up reconcile pass runs with nothing
// changed. Reports the Nango requests that pass cost (by path), its time, the keys it pulled, the
// time of the operator surfaces once the pass is over (status page, its JSON, metrics), and the
// daemon's peak RSS. The fake's clock runs 10 minutes behind: its syncs "ran" 10 minutes before
// the mirror pulled, past the 2 minutes of clock slack reconcile allows.
import { mkdirSync, rmSync } from 'node:fs';
import { createTestDatabase } from '../test/helpers/engines.js';
import { spawnFakeNango, type FakeNangoProcess } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import { openRawSender, rawRequest } from './rawSender.js';
import { readPeakRssMb, SIGNING_KEY, startBenchDaemon, type Engine } from './shared.js';

export interface KeysResult {
    engine: Engine;
    keys: number;
    integrations: number;
    backfillSeconds: number;
    pass: { statusRequests: number; recordsRequests: number; otherRequests: number; keysPulled: number; unchanged: number; durationMs: number };
    /** GET of each operator surface once the pass is over, by path (figures in ms). */
    surfaces: SurfaceTiming[];
    peakRssMb: number;
}

export interface SurfaceTiming {
    path: string;
    medianMs: number;
    maxMs: number;
    /** Bytes of the answer. */
    bytes: number;
    /** The longest a `GET /healthz` sent meanwhile waited for its answer: the daemon's event loop was busy that long, at least. */
    healthzMaxMs: number;
}

/** The operator surfaces timed at the end: the status page, its JSON (first and last page) and the metrics. */
const SURFACES = ['/', '/status.json', '/status.json?page=200', '/metrics'];
const SURFACE_ROUNDS = 7;

const MODELS = ['Contact', 'Deal', 'Company', 'Ticket'];

export async function benchReconcileKeys(options: { engine: Engine; keys: number; integrations: number; workDir: string }): Promise<KeysResult> {
    const { engine, keys, integrations, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const nango = await spawnFakeNango({ maxLog: 5000, clockOffsetMs: -600_000 });
    const db = await createTestDatabase(engine, workDir);
    const reader = db.reader();
    try {
        for (let i = 0; i < integrations; i++) await nango.call('setSyncs', { providerConfigKey: `int-${i}`, syncs: [{ name: 'records', models: MODELS }] });
        const keyList = Array.from({ length: keys }, (_, k) => ({
            providerConfigKey: `int-${k % integrations}`,
            connectionId: `conn-${Math.floor(k / (integrations * MODELS.length))}`,
            model: MODELS[Math.floor(k / integrations) % MODELS.length]!,
            variant: 'base',
        }));
        for (const key of keyList) await nango.call('saveGenerated', { key, count: 3, recordBytes: 200 });

        // Backfill by webhooks, reconcile off.
        const first = await startBenchDaemon(nango, workDir, db.database);
        const t0 = performance.now();
        try {
            const senders = await Promise.all(Array.from({ length: 32 }, () => openRawSender(first.port)));
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
            for (;;) {
                const [row] = await reader.all<{ n: number }>("SELECT count(*) AS n FROM nango_sync_state WHERE status = 'ok' AND done_seq >= request_seq");
                if (Number(row?.n) === keys) break;
                await new Promise((r) => setTimeout(r, 200));
            }
        } finally {
            await first.stop();
        }
        const backfillSeconds = (performance.now() - t0) / 1000;

        // A restart: the start-up pass, with nothing changed in Nango since the backfill.
        const before = await requestCount(nango);
        const second = await startBenchDaemon(nango, workDir, db.database, { reconcileIntervalSeconds: 3600 });
        try {
            const line = await second.log.next((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('reconcile pass found'));
            const during = (await nango.call<Array<{ n: number; path: string }>>('requests', { last: 5000 })).filter((r) => r.n > before);
            const surfaces: SurfaceTiming[] = [];
            for (const path of SURFACES) surfaces.push(await timeSurface(`http://127.0.0.1:${second.port}`, path));
            return {
                engine,
                keys,
                integrations,
                backfillSeconds,
                pass: {
                    statusRequests: during.filter((r) => r.path === '/sync/status').length,
                    recordsRequests: during.filter((r) => r.path === '/records').length,
                    otherRequests: during.filter((r) => r.path !== '/sync/status' && r.path !== '/records').length,
                    keysPulled: Number(line['keys']),
                    unchanged: Number(line['unchanged']),
                    durationMs: Number(line['durationMs']),
                },
                surfaces,
                peakRssMb: readPeakRssMb(second.child.pid!),
            };
        } finally {
            await second.stop();
        }
    } finally {
        await reader.close();
        await db.drop();
        await nango.stop();
    }
}

async function requestCount(nango: FakeNangoProcess): Promise<number> {
    return (await nango.call<{ requestCount: number }>('stats')).requestCount;
}

/**
 * One warm-up, then SURFACE_ROUNDS sequential GETs of `path`, while a prober sends `GET /healthz`
 * back to back: its slowest answer is how long the daemon's event loop could not answer anyone.
 */
async function timeSurface(base: string, path: string): Promise<SurfaceTiming> {
    const get = async (p: string) => {
        const res = await fetch(base + p);
        const body = await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET ${p} answered ${res.status}`);
        return body.byteLength;
    };
    let bytes = await get(path);
    let probing = true;
    let healthzMaxMs = 0;
    const prober = (async () => {
        while (probing) {
            const t0 = performance.now();
            await get('/healthz');
            healthzMaxMs = Math.max(healthzMaxMs, performance.now() - t0);
        }
    })();
    const times: number[] = [];
    try {
        for (let i = 0; i < SURFACE_ROUNDS; i++) {
            const t0 = performance.now();
            bytes = await get(path);
            times.push(performance.now() - t0);
        }
    } finally {
        probing = false;
        await prober;
    }
    times.sort((a, b) => a - b);
    return { path, medianMs: times[Math.floor(times.length / 2)]!, maxMs: times[times.length - 1]!, bytes, healthzMaxMs };
}
