import type { Logger } from 'pino';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import { describeKey, keyString, type SyncKey } from '../domain/syncKey.js';
import { backoffWithJitter } from '../lib/backoff.js';
import { NoticeBacklog, type BacklogEntry } from './backlog.js';
import { NOTICE_SIGNATURE_HEADER, signNotice } from './notice.js';
import { throttledWarning } from './throttledWarning.js';

export interface PostChannelOptions {
    url: string;
    signingKey: string;
    timeoutMs: number;
    maxBacklog: number;
    /** POSTs in flight at once across keys (a key never has more than one). */
    concurrency: number;
    retry: { baseDelayMs: number; maxDelayMs: number };
    warnIntervalMs: number;
    stopTimeoutMs: number;
    logger: Logger;
    /** `notifyDropped` is emitted for each dropped notice. */
    events: DaemonEvents;
}

export interface PostChannelStats {
    /** Notices not delivered yet, those being sent included. */
    backlog: number;
    /** POSTs in flight. */
    sending: number;
    delivered: number;
    /** Notices dropped because the backlog was full (oldest first). */
    dropped: number;
    /** POSTs that failed (network error, timeout, non-2xx) and were retried. */
    failedAttempts: number;
}

/** Signed POSTs to the app: at least once while the daemon runs, in order per key, retried with jittered backoff. */
export interface PostChannel {
    send(key: SyncKey, body: string): void;
    stats(): PostChannelStats;
    /** The undelivered bodies, oldest first (O(n); tests and diagnostics). */
    pending(): string[];
    /** Stops retrying and aborts POSTs in flight; undelivered notices are lost. Safe to call twice. */
    stop(): Promise<void>;
}

export function createPostChannel(options: PostChannelOptions): PostChannel {
    const { url, signingKey, timeoutMs, maxBacklog, concurrency, retry, logger, events } = options;
    const target = describeUrl(url);
    const backlog = new NoticeBacklog();
    /** Per key: consecutive failures (for the backoff) and the pending retry timer. */
    const lanes = new Map<string, { failures: number; timer: NodeJS.Timeout | undefined }>();
    /** Keys whose head notice can be sent now, in the order they became ready (fair across keys). */
    const ready = new Set<string>();
    const inFlight = new Map<Promise<void>, AbortController>();
    let pumpScheduled = false;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    /** Failed POSTs since the last delivery, for the "delivered again" line. */
    let failedStreak = 0;
    let lastError = '';
    const stats = { delivered: 0, dropped: 0, failedAttempts: 0 };

    const dropWarn = throttledWarning(options.warnIntervalMs, (n) =>
        logger.warn({ dropped: n, droppedTotal: stats.dropped, backlog: backlog.size, maxBacklog, target }, 'notification backlog full: dropped the oldest notices (the app is slow or down)'),
    );
    const failWarn = throttledWarning(options.warnIntervalMs, (n) =>
        logger.warn({ failedAttempts: n, error: lastError, backlog: backlog.size, target }, 'notifications to the app are failing; retrying with backoff'),
    );

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
        const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'nango-mirror', [NOTICE_SIGNATURE_HEADER]: signNotice(body, signingKey) },
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

    return {
        send(key, body) {
            if (stopped) return;
            const lane = keyString(key);
            backlog.push(lane, key, body);
            while (backlog.waiting > maxBacklog && dropOldest());
            settleLane(lane);
            schedulePump();
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
                ready.clear();
                for (const s of lanes.values()) clearTimeout(s.timer);
                for (const controller of inFlight.values()) controller.abort();
                await settleWithin([...inFlight.keys()], options.stopTimeoutMs);
                dropWarn.flush();
                failWarn.flush();
                if (backlog.size > 0) {
                    logger.warn({ undelivered: backlog.size, target }, 'stopping with undelivered notices; they are lost (delivery is at least once only while the daemon runs)');
                }
            })();
            return stopping;
        },
    };
}

/** Waits for `promises` to settle, at most `ms`. */
export async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
    });
    await Promise.race([Promise.allSettled(promises), timeout]);
    clearTimeout(timer);
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

