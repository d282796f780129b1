import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { PAGE_WORKER_YOUNG_GENERATION_MB } from '../lib/leanHeap.js';
import type { RateLimitGate } from '../nango/rateLimitGate.js';
import type { RateLimitReading } from '../nango/rateBudget.js';
import type { PageSource, RowPage } from './pageSource.js';
import { batchedPoster, deserializeError, type FromWorker, type PageWorkerData, type ToWorker } from './pageWorkerProtocol.js';
import type { SyncKey } from '../domain/syncKey.js';
import { fromColumns } from './rowColumns.js';

export interface WorkerPageSourceOptions extends PageWorkerData {
    logger: Logger;
    /** Pages fetched ahead of the one being committed. @default 3 */
    window?: number;
    /**
     * The daemon's 429 gate (one bucket per Nango account): the worker's 429s close it, and its
     * closings from elsewhere (discovery) hold the worker back. Without one, the worker's own gate alone.
     */
    gate?: RateLimitGate;
    onAuthResult?: (ok: boolean) => void;
    onResponse?: (status: number | 'network_error', reason: string | undefined) => void;
    /** Every answer's `X-RateLimit-*` headers (the daemon's API budget). */
    onRateLimitReading?: (reading: RateLimitReading) => void;
    /**
     * A worker with no pull for this long exits; the next pull starts another (the daemon's:
     * sync.pageWorkerIdleSeconds). An idle worker thread costs 8-12 MB of resident memory (its own
     * V8 heap and Node's per-thread state; measured); starting one again makes the next change wait
     * for it (`npm run bench -- latency` measures it).
     */
    idleStopMs: number;
}

type Item = { page: RowPage } | { error: Error };

interface Consumer {
    push(item: Item): void;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './pageWorker.ts' : './pageWorker.js', import.meta.url);

/** Run from TypeScript sources (tests, demo): workers do not inherit tsx's loader, so register it. */
function newWorker(workerData: PageWorkerData): Worker {
    const resourceLimits = { maxYoungGenerationSizeMb: PAGE_WORKER_YOUNG_GENERATION_MB };
    if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData, resourceLimits });
    const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
    return new Worker(bootstrap, { eval: true, workerData, resourceLimits });
}

/**
 * Pages fetched, parsed and converted in a worker thread that runs a few pages ahead. JSON parsing
 * and row building cost about as much CPU as the SQLite commits; on their own thread the two
 * overlap instead of adding up. Memory stays bounded by `window` pages per key.
 */
export function createWorkerPageSource(options: WorkerPageSourceOptions): PageSource {
    const { logger, gate, onAuthResult, onResponse, onRateLimitReading, window = 3, idleStopMs, ...data } = options;
    const consumers = new Map<number, Consumer>();
    let nextId = 1;
    let worker: Worker | undefined;
    let post: ((message: ToWorker) => void) | undefined;
    let closed = false;
    let idleTimer: NodeJS.Timeout | undefined;

    function stopWhenIdle(w: Worker): void {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
            idleTimer = undefined;
            if (worker !== w || consumers.size > 0) return;
            worker = undefined;
            post = undefined;
            void w.terminate();
        }, idleStopMs);
        idleTimer.unref();
    }

    function start(): Worker {
        const w = newWorker(data);
        // Idle, the worker must not keep the process alive; while a pull streams, it does.
        w.unref();
        const receive = (message: FromWorker) => {
            switch (message.type) {
                case 'page':
                    return consumers.get(message.id)?.push({ page: { rows: fromColumns(message.columns), nextCursor: message.nextCursor } });
                case 'error':
                    return consumers.get(message.id)?.push({ error: deserializeError(message.error) });
                case 'auth':
                    return onAuthResult?.(message.ok);
                case 'rate_limited':
                    logger.warn({ waitMs: message.waitMs }, 'Nango rate limit reached (429); every key waits');
                    return gate?.closeFor(message.waitMs, source);
                case 'response':
                    return onResponse?.(message.status, message.reason);
                case 'rate_limit':
                    return onRateLimitReading?.(message.reading);
                case 'retry':
                    return logger.debug({ attempt: message.attempt, delayMs: message.delayMs, err: message.error }, 'retrying Nango request');
            }
        };
        w.on('message', (batch: FromWorker[]) => {
            for (const message of batch) receive(message);
        });
        post = batchedPoster<ToWorker>((batch, transfer) => w.postMessage(batch, transfer));
        // A 429 wait still in force when this worker starts (its predecessor knew it) holds it back too.
        const closedFor = gate?.remainingMs() ?? 0;
        if (closedFor > 0) post({ type: 'hold_back', waitMs: closedFor });
        // Only the current worker's end fails the pulls: one stopped for idleness (already replaced
        // by then, perhaps) served none of them.
        const fail = (reason: string) => {
            if (worker !== w) return;
            worker = undefined;
            for (const c of consumers.values()) c.push({ error: new Error(reason) });
        };
        w.on('error', (err) => {
            logger.error({ err }, 'the page worker crashed; it restarts on the next pull');
            fail(`The page worker crashed: ${err.message}`);
        });
        w.on('exit', () => fail('The page worker stopped.'));
        return w;
    }

    async function* pages(key: SyncKey, cursor: string | null, limit: number, signal?: AbortSignal, reason?: string): AsyncGenerator<RowPage> {
        if (closed) throw new Error('The page source is closed.');
        signal?.throwIfAborted();
        clearTimeout(idleTimer);
        worker ??= start();
        const w = worker;
        const send = post!;
        const id = nextId++;
        const queue: Item[] = [];
        let wake: (() => void) | undefined;
        const consumer: Consumer = {
            push(item) {
                queue.push(item);
                wake?.();
            },
        };
        const onAbort = () => consumer.push({ error: signal!.reason instanceof Error ? signal!.reason : new Error('aborted') });
        consumers.set(id, consumer);
        w.ref();
        signal?.addEventListener('abort', onAbort, { once: true });
        send({ type: 'stream', id, key, cursor, limit, window, ...(reason ? { reason } : {}) });
        let finished = false;
        try {
            for (;;) {
                while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
                const item = queue.shift()!;
                if ('error' in item) throw item.error;
                // Pages that arrived while the last one was written go out together, as one
                // transaction (group commit): when writing is the slower half, each page's commit
                // overhead is paid once for several (at most the window's). An error stays queued.
                let page = item.page;
                let pages = 1;
                // A page without rows is never merged: it ends the pull on its own, as it always did.
                for (let next = queue[0]; next && !('error' in next) && next.page.rows.length > 0 && page.nextCursor !== null && page.rows.length > 0; next = queue[0]) {
                    queue.shift();
                    page = { rows: page.rows.concat(next.page.rows), nextCursor: next.page.nextCursor };
                    pages++;
                }
                yield pages === 1 ? page : { ...page, pages };
                if (page.nextCursor === null || page.rows.length === 0) {
                    // The worker has ended this stream: nothing to acknowledge.
                    finished = true;
                    return;
                }
                for (let i = 0; i < pages; i++) send({ type: 'ack', id });
            }
        } finally {
            signal?.removeEventListener('abort', onAbort);
            consumers.delete(id);
            if (consumers.size === 0) {
                w.unref();
                stopWhenIdle(w);
            }
            // The consumer stopped early (an error or shutdown): stop fetching ahead.
            if (!finished) send({ type: 'abort', id });
        }
    }

    const source: PageSource = {
        pages,
        get running() {
            return worker !== undefined;
        },
        async close() {
            closed = true;
            clearTimeout(idleTimer);
            unsubscribe?.();
            await worker?.terminate();
        },
    };
    // A 429 met elsewhere holds the worker's requests back too; its own are already in its gate.
    const unsubscribe = gate?.onClose((ms, from) => {
        if (from !== source && worker) post?.({ type: 'hold_back', waitMs: ms });
    });
    return source;
}
