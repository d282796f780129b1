// Runs in a worker thread: fetches `GET /records` pages, parses them and turns records into rows,
// so the main thread spends its time on database commits and webhooks. One worker serves every
// key, which keeps the 429 gate shared: Nango's rate limit is one bucket per account.
import { parentPort, workerData } from 'node:worker_threads';
import { createNangoClient, peekNextCursor } from '../nango/client.js';
import { scanRecordsPage } from '../nango/scanRecordsPage.js';
import { createRateLimitGate } from '../nango/rateLimitGate.js';
import { batchedPoster, movablePageBuffers, serializeError, type FromWorker, type PageWorkerData, type ToWorker } from './pageWorkerProtocol.js';
import type { SyncKey } from '../domain/syncKey.js';
import { toRowColumns } from './toRecordRows.js';

const port = parentPort!;
const data = workerData as PageWorkerData;
const send = batchedPoster<FromWorker>((batch, transfer) => port.postMessage(batch, transfer));

interface Stream {
    controller: AbortController;
    /** Pages sent and not yet acknowledged. */
    outstanding: number;
    window: number;
    wake?: () => void;
}
const streams = new Map<number, Stream>();

const gate = createRateLimitGate();
const client = createNangoClient({
    host: data.host,
    apiKey: data.apiKey,
    timeoutMs: data.timeoutMs,
    retry: data.retry,
    gate,
    // Log lines go to the main thread as events and are logged there. No pino here: importing it
    // cost the worker's start (a change after a quiet spell waits for it) ~30 ms.
    logger: { warn() {}, debug() {} },
    onAuthResult: (ok) => send({ type: 'auth', ok }),
    onRateLimited: (waitMs) => send({ type: 'rate_limited', waitMs }),
    onResponse: (status, reason) => send({ type: 'response', status, reason }),
    // The main thread's API budget reads every answer's rate-limit headers.
    onRateLimitReading: (reading) => send({ type: 'rate_limit', reading }),
    onRetry: (attempt, delayMs, error) => send({ type: 'retry', attempt, delayMs, error }),
});

async function stream(id: number, s: Stream, key: SyncKey, start: string | null, limit: number, reason: string | undefined): Promise<void> {
    let cursor = start;
    /** The request already sent for `cursor`, if any. */
    let asked: Promise<Buffer> | undefined;
    for (;;) {
        while (s.outstanding >= s.window) await new Promise<void>((resolve) => (s.wake = resolve));
        if (s.controller.signal.aborted) return;
        const body = await (asked ?? client.getRecordsBody({ key, cursor, limit, signal: s.controller.signal, ...(reason ? { reason } : {}) }));
        asked = undefined;
        // Ask for the next page before parsing this one: Nango renders the page meanwhile, instead
        // of after (measured: the fetch and the parse took turns, and this worker was the slower
        // half of a big pull). The guessed cursor is checked against the parsed page below.
        const guess = s.outstanding + 1 < s.window ? peekNextCursor(body) : undefined;
        const early = guess ? { cursor: guess, body: client.getRecordsBody({ key, cursor: guess, limit, signal: s.controller.signal, ...(reason ? { reason } : {}) }) } : undefined;
        early?.body.catch(() => undefined);
        const page = scanRecordsPage(body);
        const columns = toRowColumns(page);
        s.outstanding++;
        // The body moves to the main thread (no copy on either side); nothing here reads it again.
        send({ type: 'page', id, columns, nextCursor: page.nextCursor }, movablePageBuffers(columns));
        if (page.nextCursor === null || columns.id.length === 0) return;
        cursor = page.nextCursor;
        if (early?.cursor === cursor) asked = early.body;
    }
}

port.on('message', (batch: ToWorker[]) => {
    for (const message of batch) receive(message);
});

function receive(message: ToWorker): void {
    if (message.type === 'hold_back') {
        gate.closeFor(message.waitMs);
        return;
    }
    const s = streams.get(message.id);
    switch (message.type) {
        case 'ack':
            if (s) {
                s.outstanding--;
                s.wake?.();
            }
            return;
        case 'abort':
            if (s) {
                s.controller.abort();
                s.wake?.();
                streams.delete(message.id);
            }
            return;
        case 'stream': {
            const fresh: Stream = { controller: new AbortController(), outstanding: 0, window: message.window };
            streams.set(message.id, fresh);
            stream(message.id, fresh, message.key, message.cursor, message.limit, message.reason)
                .catch((err: unknown) => {
                    if (!fresh.controller.signal.aborted) send({ type: 'error', id: message.id, error: serializeError(err) });
                })
                .finally(() => streams.delete(message.id));
            return;
        }
    }
}
