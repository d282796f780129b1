import type { Logger } from 'pino';
import type { DaemonEventMap, DaemonEvents } from '../domain/daemonEvents.js';
import { isAuthError, isNangoApiError, isUnknownConnection } from '../nango/errors.js';
import type { DeleteMode } from '../domain/recordRow.js';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.js';
import type { PullSession, PullSessions } from '../storage/store.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import { describeKey, type SyncKey } from '../domain/syncKey.js';
import type { PageSource } from './pageSource.js';

export interface PullDeps {
    sessions: PullSessions;
    pages: PageSource;
    logger: Logger;
    pageSize: number;
    deletes: DeleteMode;
    /** Delay before a failed key is tried again, doubled per consecutive failure. */
    failedPullBackoff: BackoffPolicy;
    now?: () => Date;
    events?: DaemonEvents;
}

export type PullOutcome =
    | { outcome: 'ok'; records: number; pages: number; upserted: number; deleted: number; coveredSeq: number }
    | { outcome: 'failed'; records: number; pages: number; code: string; error: string }
    | { outcome: 'gone'; records: number; pages: number }
    | { outcome: 'aborted'; records: number; pages: number }
    /** Stopped after a committed page to free its slot (PullTurn); the key stays pending and the scheduler queues it again. */
    | { outcome: 'yielded'; records: number; pages: number }
    /** Another daemon sharing the database is pulling this key; its pull covers the request. */
    | { outcome: 'busy'; records: 0; pages: 0 };

/**
 * Pulls one key from its stored cursor to the end. Each page's rows and its last record cursor
 * commit in one transaction, so a crash at any point resumes from the last whole page.
 */
/**
 * Asked after every committed page: true when the pull should give its slot back (an announced change
 * waits for one, or it has run long while others wait). Only the daemon's scheduler passes one.
 */
export interface PullTurn {
    shouldYield(): boolean;
    /** Aborted when the scheduler needs the slot now: the pull stops where it is (a page commits whole or not at all) and yields. */
    signal: AbortSignal;
}

export async function pullKey(deps: PullDeps, key: SyncKey, signal: AbortSignal, reason?: string, turn?: PullTurn): Promise<PullOutcome> {
    const now = deps.now ?? (() => new Date());
    const started = performance.now();
    // Made on first use: a child logger costs more than an empty pull's own work (measured under a
    // webhook flood), and most pulls log nothing at the info level.
    let child: Logger | undefined;
    const log = (): Logger => (child ??= deps.logger.child({ key: describeKey(key) }));
    const debug = (fields: object, msg: string) => {
        if (deps.logger.isLevelEnabled('debug')) log().debug(fields, msg);
    };
    const startedAt = dateToMicroIso(now());
    const outcome = await deps.sessions.withPull(key, startedAt, (session) => pullClaimed(deps, session, startedAt, signal, { started, log, debug, now, reason, turn }));
    if (outcome) return outcome;
    debug({}, 'another daemon is pulling this key');
    return { outcome: 'busy', records: 0, pages: 0 };
}

interface PullContext {
    started: number;
    log: () => Logger;
    debug: (fields: object, msg: string) => void;
    now: () => Date;
    /** Why the pull runs, for the per-reason request count. */
    reason: string | undefined;
    turn: PullTurn | undefined;
}

async function pullClaimed(deps: PullDeps, session: PullSession, startedAt: string, signal: AbortSignal, ctx: PullContext): Promise<PullOutcome> {
    const { key, start } = session;
    const { started, log, debug, now } = ctx;
    debug({ cursor: start.cursor }, 'pull started');
    let pages = 0;
    let records = 0;
    let upserted = 0;
    let deleted = 0;
    let commitMs = 0;
    /**
     * Time spent waiting for the page source (Nango, the page worker) rather than the database,
     * including the wait for an error or for the end; the first page's wait alone (or, with no
     * page, the wait for what ended the pull).
     */
    let pageWaitMs = 0;
    let firstPageMs: number | undefined;
    let waitingSince: number | undefined = performance.now();
    const stopWaiting = () => {
        if (waitingSince === undefined) return;
        pageWaitMs += performance.now() - waitingSince;
        waitingSince = undefined;
        firstPageMs ??= pageWaitMs;
    };
    let cursor = start.cursor;
    const finish = (outcome: PullOutcome): PullOutcome => {
        const durationMs = Math.round(performance.now() - started);
        const fields = { outcome: outcome.outcome, pages, records, upserted, deleted, durationMs, commitMs: Math.round(commitMs), pageWaitMs: Math.round(pageWaitMs), firstPageMs: Math.round(firstPageMs ?? 0) };
        deps.events?.emit('pullFinished', { key, outcome: outcome.outcome, records, pages, durationMs });
        if (outcome.outcome === 'failed') log().warn({ ...fields, code: outcome.code, error: outcome.error }, 'pull finished');
        // A pull that found nothing new is the common case (reconcile passes, webhook floods): debug.
        else if (outcome.outcome === 'ok' && records === 0) debug(fields, 'pull finished');
        else if (outcome.outcome === 'yielded') debug(fields, 'pull gave its slot back after a page; it resumes from its cursor');
        else log().info(fields, 'pull finished');
        return outcome;
    };
    /**
     * The page written last, until it is durable. Pages are written as they come and made durable
     * behind: while one page's fsync runs (SQLite, on the thread pool), the next one is written,
     * instead of the main thread waiting for each fsync in turn. A page's event (notices, the change
     * feed's long polls, metrics) waits for its durability, and so does the pull's end.
     */
    let unsettled: { durable: Promise<void>; event: DaemonEventMap['pageCommitted'][0] } | undefined;
    /** Waits for `page` to be durable, then tells. */
    const settle = async (page: typeof unsettled) => {
        if (!page) return;
        if (page === unsettled) unsettled = undefined;
        await page.durable;
        deps.events?.emit('pageCommitted', { ...page.event, committedAt: dateToMicroIso(now()) });
    };
    try {
        for await (const { rows, pages: pagesRead = 1 } of deps.pages.pages(key, cursor, deps.pageSize, ctx.turn ? AbortSignal.any([signal, ctx.turn.signal]) : signal, ctx.reason)) {
            stopWaiting();
            // An empty page leaves the cursor where it is.
            if (rows.length === 0) break;
            const last = rows[rows.length - 1]!;
            // Persist the last record's cursor, never a null next_cursor.
            const t0 = performance.now();
            const { result, durable } = await session.writePage({ rows, cursor: last.cursor, deletes: deps.deletes, syncedAt: dateToMicroIso(now()), pullStartedAt: startedAt });
            // Awaited in settle; a failure meanwhile is not an unhandled rejection.
            durable.catch(() => undefined);
            commitMs += performance.now() - t0;
            // This page becomes the unsettled one before the last one is awaited: if that fails, the
            // error path still settles this one (its event, or its own failure).
            const previous = unsettled;
            unsettled = { durable, event: { key, upserted: result.upserted, deleted: result.deleted, skipped: result.skipped, cursor: last.cursor, committedAt: '' } };
            await settle(previous);
            cursor = last.cursor;
            pages += pagesRead;
            records += rows.length;
            upserted += result.upserted;
            deleted += result.deleted;
            if (ctx.turn?.shouldYield()) {
                // The page and its cursor are committed: the next turn resumes here. Pages fetched
                // ahead are dropped (at most the page source's window of requests).
                await settle(unsettled);
                await session.abandon(dateToMicroIso(now()));
                return finish({ outcome: 'yielded', records, pages });
            }
            waitingSince = performance.now();
        }
        // The source's end (its last answer said so) was waited for too.
        stopWaiting();
        await settle(unsettled);
        if (start.resyncFrom !== null && start.resyncSweep) {
            // This pull started after the resync, so it read from the start (or resumed such a read):
            // whatever it did not write since the resync has vanished upstream.
            const swept = await session.sweep(start.resyncFrom, deps.deletes, dateToMicroIso(now()));
            deleted += swept;
            log().info({ swept }, 'sweep after a full read: rows Nango no longer has were deleted');
        }
        await session.finish({ requestSeq: start.requestSeq, startedAt, records, pages, at: dateToMicroIso(now()) });
        return finish({ outcome: 'ok', records, pages, upserted, deleted, coveredSeq: start.requestSeq });
    } catch (err) {
        // Waiting for the source when it failed: that wait counts (a timeout's, a stall's).
        stopWaiting();
        // The page written before the failure is committed; its event waits for its durability as
        // always (a failure of that is reported by the error being handled, not instead of it).
        await settle(unsettled).catch(() => undefined);
        const at = dateToMicroIso(now());
        if (signal.aborted) {
            await session.abandon(at);
            return finish({ outcome: 'aborted', records, pages });
        }
        if (ctx.turn?.signal.aborted) {
            // Stopped for an announced pull: what was committed stays, the rest resumes from the cursor.
            await session.abandon(at);
            return finish({ outcome: 'yielded', records, pages });
        }
        if (isUnknownConnection(err)) {
            await session.markGone('Nango does not know this connection (400 unknown_connection); it is left alone until a webhook names it again.', at);
            return finish({ outcome: 'gone', records, pages });
        }
        const { code, error } = classifyFailure(err, cursor);
        const delay = backoffDelay(start.consecutiveFailures + 1, deps.failedPullBackoff);
        await session.fail({ code, error, at, nextAttemptAt: dateToMicroIso(new Date(now().getTime() + delay)) });
        return finish({ outcome: 'failed', records, pages, code, error });
    }
}

const ERROR_CODES: Record<string, string> = {
    NangoNetworkError: 'network_error',
    NangoProtocolError: 'protocol_error',
    RecordShapeError: 'invalid_record',
    TimestampError: 'invalid_record',
};

function classifyFailure(err: unknown, cursor: string | null): { code: string; error: string } {
    const message = err instanceof Error ? err.message : String(err);
    if (isAuthError(err)) {
        return { code: 'nango_auth', error: `${message}. Nango refused nango.apiKey: check that it is the environment's secret key with records:read scope.` };
    }
    if (isNangoApiError(err) && err.status === 500 && err.code === 'server_error' && cursor !== null) {
        // Nango answers a malformed cursor with 500, not 400 (protocol §4.3).
        return {
            code: 'cursor_rejected',
            error: `${message} on every try at cursor ${cursor}. Nango answers a malformed cursor this way; if it persists, resync the key from the start.`,
        };
    }
    if (isNangoApiError(err)) return { code: err.code, error: message };
    return { code: ERROR_CODES[(err as Error | undefined)?.name ?? ''] ?? 'internal_error', error: message };
}
