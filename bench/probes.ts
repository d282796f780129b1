// Webhook → visible latency, measured while the daemon is busy with something else (a reconcile
// pass, a backfill, a 429 storm). Each probe is one announced change, as Nango makes it: a new
// record in the fake's store for one key (the sync run), then the signed sync webhook for that key.
// The latency is from the moment the webhook is sent to the first look at the mirror that finds
// the record (a point query on its primary key every POLL_MS): "visible" means committed and
// readable by the app, so it is at most POLL_MS (plus a query) late, never early.
//
// Probes are sent open-loop, one every `intervalMs` whatever the earlier ones' fate: a probe that
// waited for the previous one to become visible would hide the queueing it is there to measure.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoggedRequest } from '../test/fakes/fakeNango.js';
import type { FakeNangoProcess } from '../test/fakes/fakeNangoProcess.js';
import { signWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';
import type { MirrorReader } from '../test/helpers/engines.js';
import { openRawSender, rawRequest, type RawSender } from './rawSender.js';
import { SIGNING_KEY } from './shared.js';
import { percentile } from './stats.js';

export interface ProbeKey {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
}

export interface ProbeSummary {
    /** Probes sent (webhook answered 200) before `stop`. */
    sent: number;
    /** Of which this many became visible before the wait at `stop` ran out. */
    visible: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /**
     * With `countOwn429s`: per probe, its latency less Retry-After for each 429 its own key's
     * `GET /records` got between its webhook and its record becoming visible; the largest of these.
     * A request answered 429 must wait Retry-After whatever the daemon does (and may be answered 429
     * again: in the storm each answer is drawn at random), so this is the part the daemon controls.
     */
    maxLessOwn429sMs?: number;
    /** The most 429s one probe's own requests got. */
    maxOwn429s?: number;
}

export interface Probes {
    /** Sends no more probes, waits up to `timeoutMs` for the ones sent to become visible, and sums up. */
    stop(timeoutMs?: number): Promise<ProbeSummary>;
}

const POLL_MS = 10;
/** A prime: probe j goes to key (j × STRIDE) mod N, spread over integrations, connections and models. */
const STRIDE = 7919;

interface Probe {
    key: ProbeKey;
    id: string;
    sentAt: number;
    /** The fake's request count when the webhook was sent (with `countOwn429s`). */
    requestsAtSend?: number;
}

interface Seen {
    probe: Probe;
    latencyMs: number;
    requestsAtVisible?: number;
}

export function startProbes(options: {
    nango: FakeNangoProcess;
    /** The daemon's port. */
    port: number;
    reader: MirrorReader;
    keys: readonly ProbeKey[];
    /** Names the probes' record ids (`probe-<label>-<j>`), unique across a run. */
    label: string;
    intervalMs: number;
    /** Stop sending after this many even before `stop`. @default Infinity */
    maxProbes?: number;
    /** Count the 429s each probe's own requests got (the fake's request log; `maxLessOwn429sMs`), with this Retry-After. */
    countOwn429s?: { retryAfterSeconds: number };
}): Probes {
    const { nango, port, reader, keys, label, intervalMs, countOwn429s } = options;
    const requestCount = async () => (await nango.call<{ requestCount: number }>('stats', {})).requestCount;
    const seen: Seen[] = [];
    const maxProbes = options.maxProbes ?? Infinity;
    const outstanding = new Set<Probe>();
    const latencies: number[] = [];
    const idle: RawSender[] = [];
    const all: RawSender[] = [];
    const sending: Array<Promise<void>> = [];
    /** The first failure (a webhook not answered 200, a query that threw): `stop` throws it. */
    let failure: Error | undefined;
    const fail = (err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
    };
    let sent = 0;
    let stopped = false;

    async function send(j: number): Promise<void> {
        const key = keys[(j * STRIDE) % keys.length]!;
        const id = `probe-${label}-${j}`;
        await nango.call('save', { key, records: [{ id, probe: label, n: j }] });
        const signed = signWebhook(syncSuccessBody({ ...key, added: 1 }), SIGNING_KEY);
        const request = rawRequest('/webhooks/nango', signed.headers, signed.body);
        // An idle connection may have been closed by the daemon's keep-alive timeout: not reused.
        let sender = idle.pop();
        while (sender && !sender.isOpen()) sender = idle.pop();
        if (!sender) all.push((sender = await openRawSender(port)));
        const requestsAtSend = countOwn429s ? await requestCount() : undefined;
        const sentAt = performance.now();
        const status = await sender.send(request);
        idle.push(sender);
        if (status !== 200) throw new Error(`a probe's webhook was answered ${status}`);
        sent++;
        outstanding.add({ key, id, sentAt, ...(requestsAtSend === undefined ? {} : { requestsAtSend }) });
    }

    const sender = (async () => {
        const t0 = performance.now();
        for (let j = 0; !stopped && j < maxProbes; j++) {
            const wait = t0 + j * intervalMs - performance.now();
            if (wait > 0) await sleep(wait);
            if (stopped) break;
            sending.push(send(j).catch(fail));
        }
    })();

    let polling = true;
    const poller = (async () => {
        while (polling) {
            for (const probe of outstanding) {
                const { key, id } = probe;
                const rows = await reader.all(
                    'SELECT 1 AS found FROM nango_records WHERE provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ? AND id = ?',
                    key.providerConfigKey,
                    key.connectionId,
                    key.model,
                    key.variant,
                    id,
                );
                if (rows.length > 0) {
                    const latencyMs = performance.now() - probe.sentAt;
                    latencies.push(latencyMs);
                    outstanding.delete(probe);
                    seen.push({ probe, latencyMs, ...(countOwn429s ? { requestsAtVisible: await requestCount() } : {}) });
                }
            }
            await sleep(POLL_MS);
        }
    })().catch(fail);

    return {
        async stop(timeoutMs = 60_000) {
            stopped = true;
            try {
                await sender;
                const deadline = performance.now() + timeoutMs;
                const answered = await Promise.race([Promise.all(sending).then(() => true), sleep(timeoutMs).then(() => false)]);
                if (!answered) fail(new Error(`a probe's webhook was not answered within ${timeoutMs} ms`));
                while (outstanding.size > 0 && failure === undefined && performance.now() < deadline) await sleep(POLL_MS);
            } finally {
                polling = false;
                await poller;
                for (const s of all) s.close();
            }
            if (failure !== undefined) throw failure;
            return {
                sent,
                visible: latencies.length,
                p50Ms: percentile(latencies, 0.5),
                p99Ms: percentile(latencies, 0.99),
                maxMs: latencies.length > 0 ? Math.max(...latencies) : NaN,
                ...(countOwn429s ? await own429s(nango, seen, countOwn429s.retryAfterSeconds) : {}),
            };
        },
    };
}

/** `maxLessOwn429sMs` and `maxOwn429s`: each visible probe's 429s, from the fake's request log. */
async function own429s(nango: FakeNangoProcess, seen: readonly Seen[], retryAfterSeconds: number): Promise<Pick<ProbeSummary, 'maxLessOwn429sMs' | 'maxOwn429s'>> {
    const log = await nango.call<LoggedRequest[]>('requests', { last: 100_000 });
    if (seen.length > 0 && log.length > 0 && log[0]!.n > Math.min(...seen.map((s) => s.probe.requestsAtSend!))) {
        throw new Error("the fake's request log no longer holds the probes' requests: start it with a larger maxLog");
    }
    let maxLessOwn429sMs = 0;
    let maxOwn429s = 0;
    for (const { probe, latencyMs, requestsAtVisible } of seen) {
        const { key } = probe;
        const rateLimited = log.filter(
            (r) =>
                r.status === 429 &&
                r.path === '/records' &&
                r.n > probe.requestsAtSend! &&
                r.n <= requestsAtVisible! &&
                r.headers['connection-id'] === key.connectionId &&
                r.headers['provider-config-key'] === key.providerConfigKey &&
                r.query['model'] === key.model,
        ).length;
        maxOwn429s = Math.max(maxOwn429s, rateLimited);
        maxLessOwn429sMs = Math.max(maxLessOwn429sMs, latencyMs - rateLimited * retryAfterSeconds * 1000);
    }
    return { maxLessOwn429sMs, maxOwn429s };
}
