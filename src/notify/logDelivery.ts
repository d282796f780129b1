import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { describeKey, keyString, type SyncKey } from '../domain/syncKey.js';
import { backoffWithJitter } from '../lib/backoff.js';
import type { ChangeLog, ChangeRow, KeyStates, Leases } from '../storage/store.js';
import { NOTICE_SIGNATURE_HEADER, signNotice, type Notice } from './notice.js';
import { throttledWarning } from './throttledWarning.js';

/** The stable id of a `notify.url` in `nango_mirror_notify_positions`: the same URL resumes the same position. */
export function subscriberId(url: string): string {
    return `url:${createHash('sha256').update(url).digest('hex').slice(0, 32)}`;
}

export interface LogDeliveryOptions {
    url: string;
    signingKey: string;
    timeoutMs: number;
    /** POSTs in flight at once across keys (a key never has more than one). */
    concurrency: number;
    retry: { baseDelayMs: number; maxDelayMs: number };
    warnIntervalMs: number;
    stopTimeoutMs: number;
    /** How often the log is read when nothing woke the delivery (other replicas' commits). */
    pollMs: number;
    /** Changes read per batch. */
    batchSize: number;
    changes: ChangeLog;
    keys: Pick<KeyStates, 'getKeyStatus'>;
    /** With several daemons on one database (Postgres), one delivers per subscriber at a time. */
    lease?: { leases: Leases; holder: string; ttlMs: number };
    logger: Logger;
    now?: () => number;
}

export interface LogDeliveryStats {
    /** Changes committed and not delivered yet (latest seq − position), as of the last read. */
    backlog: number;
    /** POSTs in flight. */
    sending: number;
    /** Notices the app acknowledged (2xx). */
    delivered: number;
    /** Always 0: nothing is dropped any more (kept so the stats' shape stays). */
    dropped: number;
    /** POSTs that failed (network error, timeout, non-2xx) and were retried. */
    failedAttempts: number;
}

export interface NoticeLag {
    /** Latest committed seq − the subscriber's position. */
    seq: number;
    /** Seconds since the oldest undelivered change committed; 0 when none. */
    seconds: number;
}

/**
 * Signed POSTs to `notify.url`, read from the change log (`nango_changes`) after the subscriber's
 * stored position (`nango_mirror_notify_positions`). A batch of changes (up to `batchSize`) becomes
 * one notice per key (toNotices); keys go concurrently, a key's notices in seq order; once every notice of the batch got a 2xx the position
 * moves past it. A crash or a stop before that re-sends the batch: at least once, in order per key.
 * Nothing is dropped: an app that is down or slow falls behind in the log (`lag()`).
 */
export interface LogDelivery {
    start(): void;
    /** Reads the log now (a page just committed here). */
    wake(): void;
    stats(): LogDeliveryStats;
    lag(): Promise<NoticeLag>;
    stop(): Promise<void>;
}

interface PendingNotice {
    key: SyncKey;
    rows: ChangeRow[];
}

export function createLogDelivery(options: LogDeliveryOptions): LogDelivery {
    const { url, signingKey, timeoutMs, concurrency, retry, changes, keys, lease, logger } = options;
    const now = options.now ?? Date.now;
    const subscriber = subscriberId(url);
    const target = describeUrl(url);
    const stats = { delivered: 0, failedAttempts: 0, sending: 0 };
    let backlog = 0;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    let loop: Promise<void> | undefined;
    let woken = false;
    let wakeUp: (() => void) | undefined;
    const abort = new AbortController();
    let failedStreak = 0;
    let lastError = '';
    const failWarn = throttledWarning(options.warnIntervalMs, (n) =>
        logger.warn({ failedAttempts: n, error: lastError, backlog, target }, 'notifications to the app are failing; retrying with backoff'),
    );

    /** Sleeps until woken, the poll interval or `ms`, whichever first. */
    function pause(ms: number): Promise<void> {
        if (woken || stopped) {
            woken = false;
            return Promise.resolve();
        }
        return new Promise((resolve) => {
            const timer = setTimeout(done, ms);
            function done() {
                clearTimeout(timer);
                wakeUp = undefined;
                woken = false;
                resolve();
            }
            wakeUp = done;
        });
    }

    async function holdsLease(): Promise<boolean> {
        if (!lease) return true;
        const at = now();
        return lease.leases.claimLease(`notify:${subscriber}`, lease.holder, new Date(at).toISOString(), new Date(at + lease.ttlMs).toISOString());
    }

    async function run(): Promise<void> {
        while (!stopped) {
            try {
                const progressed = await deliverBatch();
                if (!progressed) await pause(options.pollMs);
            } catch (err) {
                if (stopped) return;
                logger.error({ err }, 'notice delivery failed to read or store its position; retrying');
                await pause(options.pollMs);
            }
        }
    }

    /** One batch: read, POST, advance. False when there was nothing to do (or another daemon delivers). */
    async function deliverBatch(): Promise<boolean> {
        if (!(await holdsLease())) return false;
        let position = await changes.notifyPosition(subscriber);
        const bounds = await changes.changeBounds();
        if (position < bounds.prunedThrough) {
            logger.error(
                { subscriber, target, position, prunedThrough: bounds.prunedThrough, missed: bounds.prunedThrough - position },
                'changes the app was never told about were pruned by retention (changes.retentionHours / changes.maxRows); notices resume after them: resync the app',
            );
            await changes.advanceNotifyPosition(subscriber, bounds.prunedThrough, isoNow());
            position = bounds.prunedThrough;
        }
        backlog = Math.max(0, bounds.latest - position);
        const rows = await changes.readChanges({ after: position, limit: options.batchSize });
        if (rows.length === 0) return false;
        const notices = toNotices(rows);
        const through = rows.at(-1)!.seq;
        // A batch may take long (an app that is down): keep the lease meanwhile, so no other replica delivers it too.
        const renew = lease ? setInterval(() => void holdsLease().catch(() => undefined), Math.max(100, lease.ttlMs / 3)) : undefined;
        try {
            await deliverAll(notices);
        } finally {
            clearInterval(renew);
        }
        if (stopped) return false;
        await changes.advanceNotifyPosition(subscriber, through, isoNow());
        backlog = Math.max(0, backlog - rows.length);
        return true;
    }

    /** POSTs each key's notices in order, keys concurrently (at most `concurrency`), each retried until a 2xx or stop. */
    async function deliverAll(notices: PendingNotice[]): Promise<void> {
        const lanes = new Map<string, PendingNotice[]>();
        for (const n of notices) {
            const lane = keyString(n.key);
            const list = lanes.get(lane);
            if (list) list.push(n);
            else lanes.set(lane, [n]);
        }
        const queue = [...lanes.values()];
        const worker = async () => {
            for (let lane = queue.shift(); lane && !stopped; lane = queue.shift()) {
                for (const notice of lane) {
                    if (stopped) return;
                    await deliverOne(notice);
                }
            }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    }

    async function deliverOne(notice: PendingNotice): Promise<void> {
        const body = JSON.stringify(await noticeFor(notice));
        for (let failures = 0; !stopped; ) {
            stats.sending++;
            try {
                await post(body);
                stats.delivered++;
                if (failedStreak > 0) {
                    failWarn.discard();
                    logger.info({ failedAttempts: failedStreak, backlog, target }, 'notifications to the app are delivered again');
                    failedStreak = 0;
                }
                return;
            } catch (err) {
                if (stopped) return;
                failures++;
                stats.failedAttempts++;
                failedStreak++;
                lastError = describeError(err, timeoutMs);
                failWarn.hit();
                const delayMs = backoffWithJitter(failures, retry);
                logger.debug({ key: describeKey(notice.key), attempt: failures, delayMs, error: lastError }, 'notice not delivered; retrying');
                await sleep(delayMs);
            } finally {
                stats.sending--;
            }
        }
    }

    async function noticeFor({ key, rows }: PendingNotice): Promise<Notice> {
        let upserted = 0;
        let deleted = 0;
        for (const r of rows) {
            if (r.action === 'deleted' || r.action === 'swept') deleted++;
            else upserted++;
        }
        // The log does not keep each page's cursor: the notice carries the key's cursor as stored now.
        const cursor = (await keys.getKeyStatus(key))?.cursor ?? '';
        return { ...keyOf(rows[0]!), upserted, deleted, cursor, committedAt: rows.at(-1)!.committedAt, fromSeq: rows[0]!.seq, toSeq: rows.at(-1)!.seq };
    }

    async function post(body: string): Promise<void> {
        const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'nango-mirror', [NOTICE_SIGNATURE_HEADER]: signNotice(body, signingKey) },
            body,
            // A redirected POST may turn into a GET that "succeeds" without the body: treat 3xx as a failure.
            redirect: 'manual',
            signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status > 299) throw new NoticeRejected(res.status);
    }

    function sleep(ms: number): Promise<void> {
        return new Promise((resolve) => {
            const timer = setTimeout(resolve, ms);
            abort.signal.addEventListener('abort', () => {
                clearTimeout(timer);
                resolve();
            });
        });
    }

    function isoNow(): string {
        return new Date(now()).toISOString();
    }

    return {
        start() {
            if (loop || stopped) return;
            loop = run();
        },
        wake() {
            woken = true;
            wakeUp?.();
        },
        stats: () => ({ backlog, sending: stats.sending, delivered: stats.delivered, dropped: 0, failedAttempts: stats.failedAttempts }),
        async lag() {
            const position = await changes.notifyPosition(subscriber);
            const { latest, prunedThrough } = await changes.changeBounds();
            const oldest = (await changes.readChanges({ after: Math.max(position, prunedThrough), limit: 1 }))[0];
            return { seq: Math.max(0, latest - position), seconds: oldest ? Math.max(0, (now() - Date.parse(oldest.committedAt)) / 1000) : 0 };
        },
        stop() {
            stopping ??= (async () => {
                stopped = true;
                abort.abort();
                wakeUp?.();
                await settleWithin(loop ? [loop] : [], options.stopTimeoutMs);
                failWarn.flush();
                if (backlog > 0) logger.info({ undelivered: backlog, target }, 'stopping with undelivered changes; they are delivered from the stored position at the next start');
            })();
            return stopping;
        },
    };
}

const keyOf = (r: ChangeRow): SyncKey => ({ providerConfigKey: r.providerConfigKey, connectionId: r.connectionId, model: r.model, variant: r.variant });

/**
 * One notice per key per batch: the key's changes among `rows` (in seq order), in the order the key
 * first appears. A key's notices thus go out in seq order, batch after batch. (Pages cannot be told
 * apart in the log: on Postgres a page's statements log different `committed_at`s.)
 */
export function toNotices(rows: readonly ChangeRow[]): PendingNotice[] {
    const byKey = new Map<string, PendingNotice>();
    for (const r of rows) {
        const lane = keyString(r);
        const notice = byKey.get(lane);
        if (notice) notice.rows.push(r);
        else byKey.set(lane, { key: keyOf(r), rows: [r] });
    }
    return [...byKey.values()];
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
