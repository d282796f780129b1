import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import { backoffWithJitter } from '../lib/backoff.js';
import { describeKey, keyString } from '../domain/syncKey.js';
import type { PostgresNotify } from './postgresNotify.js';
import { NoticeBacklog, type BacklogEntry } from './backlog.js';
import { NOTICE_SIGNATURE_HEADER, noticeBody, signNotice, type PageCommitted } from './notice.js';

/** Internal knobs (not config keys): the defaults suit production; tests make retries fast. */
export interface NotifierTuning {
    /** POSTs in flight at once across keys (a key never has more than one). @default 4 */
    concurrency?: number;
    /** Base of the jittered exponential backoff between tries of one key's notice. @default 1000 */
    retryBaseDelayMs?: number;
    /** Cap of that backoff. @default 60000 */
    retryMaxDelayMs?: number;
    /** At most one warn line per this interval for drops, for failing POSTs and for failing NOTIFYs. @default 60000 */
    warnIntervalMs?: number;
    /** How long stop() waits for aborted POSTs and queued NOTIFYs to settle. @default 1000 */
    stopTimeoutMs?: number;
}

export interface NotifierDeps {
    /** `NOTIFY`, for `notify.pgChannel` (Postgres only). */
    postgres?: PostgresNotify;
    logger: Logger;
    /** `pageCommitted` is listened to; `notifyDropped` is emitted for each dropped notice. */
    events: DaemonEvents;
}

export interface NotifierStats {
    /** Notices not delivered yet, those being sent included. */
    backlog: number;
    /** POSTs in flight. */
    sending: number;
    delivered: number;
    /** Notices dropped because the backlog was full (oldest first). */
    dropped: number;
    /** POSTs that failed (network error, timeout, non-2xx) and were retried. */
    failedAttempts: number;
    pgNotified: number;
    pgFailed: number;
    /** NOTIFYs skipped: payload too large, or too many queued behind a slow database. */
    pgSkipped: number;
}

export interface Notifier {
    /** Starts listening to `pageCommitted`. */
    start(): void;
    /** Queues the notices for a committed page. Synchronous, O(1), never throws: ingestion never waits for the app. */
    enqueue(page: PageCommitted): void;
    /** Notices dropped so far because the backlog was full. */
    readonly dropped: number;
    stats(): NotifierStats;
    /** The undelivered POST bodies, oldest first (O(n); tests and diagnostics). */
    pending(): string[];
    /** Stops listening and retrying, aborts POSTs in flight; undelivered notices are lost. Safe to call twice. */
    stop(): Promise<void>;
}

/** Postgres refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999;

/**
 * Tells the app about every committed page: a signed POST to `notify.url` (at least once while the
 * daemon runs, retried with jittered backoff, in order per key, a bounded backlog that drops the
 * oldest), and/or a best-effort Postgres `NOTIFY notify.pgChannel` with the same payload.
 * Returns undefined when neither is configured.
 */
export function createNotifier(config: Config['notify'], deps: NotifierDeps, tuning: NotifierTuning = {}): Notifier | undefined {
    const { url, signingKey, pgChannel } = config;
    if (url === undefined && pgChannel === undefined) return undefined;
    if (url !== undefined && signingKey === undefined) throw new Error('notify.signingKey is required when notify.url is set');
    const { logger, events, postgres } = deps;
    if (pgChannel !== undefined && postgres === undefined) throw new Error('notify.pgChannel needs a Postgres connection to NOTIFY on');
    const concurrency = Math.max(1, tuning.concurrency ?? 4);
    const retry = { baseDelayMs: tuning.retryBaseDelayMs ?? 1000, maxDelayMs: tuning.retryMaxDelayMs ?? 60_000 };
    const warnIntervalMs = tuning.warnIntervalMs ?? 60_000;
    const stopTimeoutMs = tuning.stopTimeoutMs ?? 1000;
    const timeoutMs = config.timeoutSeconds * 1000;
    const maxBacklog = config.maxBacklog;
    const target = url === undefined ? undefined : describeUrl(url);

    const backlog = new NoticeBacklog();
    /** Per key: consecutive failures (for the backoff) and the pending retry timer. */
    const lanes = new Map<string, { failures: number; timer: NodeJS.Timeout | undefined }>();
    /** Keys whose head notice can be sent now, in the order they became ready (fair across keys). */
    const ready = new Set<string>();
    const inFlight = new Map<Promise<void>, AbortController>();
    let pumpScheduled = false;
    let started = false;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    /** Failed POSTs since the last delivery, for the "delivered again" line. */
    let failedStreak = 0;
    let lastError = '';
    let pgChain: Promise<void> = Promise.resolve();
    let pgQueued = 0;
    let lastPgError = '';
    const stats: NotifierStats = { backlog: 0, sending: 0, delivered: 0, dropped: 0, failedAttempts: 0, pgNotified: 0, pgFailed: 0, pgSkipped: 0 };

    const dropWarn = rateLimited(warnIntervalMs, (n) =>
        logger.warn({ dropped: n, droppedTotal: stats.dropped, backlog: backlog.size, maxBacklog, target }, 'notification backlog full: dropped the oldest notices (the app is slow or down)'),
    );
    const failWarn = rateLimited(warnIntervalMs, (n) =>
        logger.warn({ failedAttempts: n, error: lastError, backlog: backlog.size, target }, 'notifications to the app are failing; retrying with backoff'),
    );
    const pgWarn = rateLimited(warnIntervalMs, (n) => logger.warn({ failures: n, error: lastPgError, channel: pgChannel }, 'NOTIFY failed (best-effort; not retried)'));

    const onPage = (page: PageCommitted) => notifier.enqueue(page);

    function laneState(lane: string) {
        let s = lanes.get(lane);
        if (!s) {
            s = { failures: 0, timer: undefined };
            lanes.set(lane, s);
        }
        return s;
    }

    /** A key is ready when it has a notice, none in flight and no retry timer running. */
    function settleLane(lane: string): void {
        const head = backlog.head(lane);
        const s = lanes.get(lane);
        if (!head) {
            ready.delete(lane);
            if (s && !s.timer) lanes.delete(lane);
            return;
        }
        if (!stopped && !head.sending && !s?.timer) ready.add(lane);
    }

    function schedulePump(): void {
        if (pumpScheduled || stopped) return;
        pumpScheduled = true;
        // Outside the caller's stack: enqueue runs inside the page commit's event.
        setImmediate(() => {
            pumpScheduled = false;
            pump();
        });
    }

    function pump(): void {
        while (!stopped && backlog.sending < concurrency && ready.size > 0) {
            const lane = ready.values().next().value as string;
            ready.delete(lane);
            const entry = backlog.head(lane);
            if (entry && !entry.sending) send(entry);
        }
    }

    function send(entry: BacklogEntry): void {
        backlog.setSending(entry, true);
        const controller = new AbortController();
        const attempt = post(entry.body, controller.signal)
            .then(
                () => settled(entry, undefined),
                (err: unknown) => settled(entry, describeError(err, timeoutMs)),
            )
            .catch((err: unknown) => logger.error({ err }, 'notifier bookkeeping failed'));
        inFlight.set(attempt, controller);
        void attempt.finally(() => inFlight.delete(attempt));
    }

    async function post(body: string, signal: AbortSignal): Promise<void> {
        const res = await fetch(url!, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'nango-mirror', [NOTICE_SIGNATURE_HEADER]: signNotice(body, signingKey!) },
            body,
            // A redirected POST may turn into a GET that "succeeds" without the body: treat 3xx as a failure.
            redirect: 'manual',
            signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status > 299) throw new NoticeRejected(res.status);
    }

    function settled(entry: BacklogEntry, error: string | undefined): void {
        backlog.setSending(entry, false);
        if (stopped) return;
        const s = laneState(entry.lane);
        if (error === undefined) {
            backlog.remove(entry);
            stats.delivered++;
            s.failures = 0;
            if (failedStreak > 0) {
                // The failures not warned about yet are counted here instead.
                failWarn.discard();
                logger.info({ failedAttempts: failedStreak, backlog: backlog.size, target }, 'notifications to the app are delivered again');
                failedStreak = 0;
            }
        } else {
            s.failures++;
            stats.failedAttempts++;
            failedStreak++;
            lastError = error;
            const delayMs = backoffWithJitter(s.failures, retry);
            logger.debug({ key: describeKey(entry.key), attempt: s.failures, delayMs, error }, 'notice not delivered; retrying');
            failWarn.hit();
            s.timer = setTimeout(() => {
                s.timer = undefined;
                settleLane(entry.lane);
                pump();
            }, delayMs);
            s.timer.unref();
            // The notice waits again: keep the bound (it may now be the oldest, and go).
            while (backlog.waiting > maxBacklog && dropOldest());
        }
        settleLane(entry.lane);
        pump();
    }

    /** Drops the oldest notice not being sent; false when there is none. */
    function dropOldest(): boolean {
        const victim = backlog.oldestWaiting();
        if (!victim) return false;
        backlog.remove(victim);
        stats.dropped++;
        settleLane(victim.lane);
        try {
            events.emit('notifyDropped', { key: victim.key, dropped: 1 });
        } catch (err) {
            logger.error({ err }, 'a notifyDropped listener threw');
        }
        dropWarn.hit();
        return true;
    }

    function pgNotify(body: string): void {
        if (Buffer.byteLength(body) > MAX_NOTIFY_BYTES || pgQueued >= maxBacklog) {
            stats.pgSkipped++;
            lastPgError = pgQueued >= maxBacklog ? `${pgQueued} NOTIFYs already queued behind a slow database` : 'payload of 8000 bytes or more';
            pgWarn.hit();
            return;
        }
        pgQueued++;
        // One at a time, so a key's NOTIFYs arrive in commit order (a pool would interleave them).
        pgChain = pgChain
            .then(() => postgres!.notify(pgChannel!, body))
            .then(
                () => {
                    stats.pgNotified++;
                },
                (err: unknown) => {
                    stats.pgFailed++;
                    lastPgError = (err as Error).message;
                    if (!stopped) pgWarn.hit();
                },
            )
            .finally(() => {
                pgQueued--;
            });
    }

    const notifier: Notifier = {
        start() {
            if (started || stopped) return;
            started = true;
            events.on('pageCommitted', onPage);
        },

        enqueue(page) {
            if (stopped) return;
            try {
                const body = noticeBody(page);
                if (pgChannel !== undefined) pgNotify(body);
                if (url === undefined) return;
                const lane = keyString(page.key);
                backlog.push(lane, page.key, body);
                while (backlog.waiting > maxBacklog && dropOldest());
                settleLane(lane);
                schedulePump();
            } catch (err) {
                // Never let a notification problem fail the page that was just committed.
                logger.error({ err }, 'could not queue a notification');
            }
        },

        get dropped() {
            return stats.dropped;
        },

        stats() {
            return { ...stats, backlog: backlog.size, sending: backlog.sending };
        },

        pending() {
            return backlog.bodies();
        },

        stop() {
            stopping ??= (async () => {
                stopped = true;
                events.off('pageCommitted', onPage);
                ready.clear();
                for (const s of lanes.values()) clearTimeout(s.timer);
                for (const controller of inFlight.values()) controller.abort();
                let timer: NodeJS.Timeout | undefined;
                const timeout = new Promise<void>((resolve) => {
                    timer = setTimeout(resolve, stopTimeoutMs);
                });
                await Promise.race([Promise.allSettled([...inFlight.keys(), pgChain]), timeout]);
                clearTimeout(timer);
                dropWarn.flush();
                failWarn.flush();
                pgWarn.flush();
                if (backlog.size > 0) {
                    logger.warn({ undelivered: backlog.size, target }, 'stopping with undelivered notices; they are lost (delivery is at least once only while the daemon runs)');
                }
            })();
            return stopping;
        },
    };
    return notifier;
}

class NoticeRejected extends Error {
    constructor(readonly status: number) {
        super(`the app answered ${status}`);
    }
}

function describeError(err: unknown, timeoutMs: number): string {
    if (err instanceof NoticeRejected) return err.message;
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
    if (e.name === 'AbortError') return 'aborted';
    return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** The URL for logs: origin and path, never credentials or a query that may hold a token. */
function describeUrl(url: string): string {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Calls `emit(count)` at once on the first hit, then at most once per interval with the hits since. */
function rateLimited(intervalMs: number, emit: (count: number) => void) {
    let count = 0;
    let last = -Infinity;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
        clearTimeout(timer);
        timer = undefined;
        if (count === 0) return;
        const n = count;
        count = 0;
        last = Date.now();
        emit(n);
    };
    return {
        hit() {
            count++;
            if (timer) return;
            const wait = last + intervalMs - Date.now();
            if (wait <= 0) flush();
            else {
                timer = setTimeout(flush, wait);
                timer.unref();
            }
        },
        flush,
        /** Forgets the hits not emitted yet (the caller reports them another way). */
        discard() {
            clearTimeout(timer);
            timer = undefined;
            count = 0;
        },
    };
}
