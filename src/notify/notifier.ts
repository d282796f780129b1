import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import { noticeBody, type PageCommitted } from './notice.js';
import { createPgNotifyChannel, type PgNotifyStats } from './pgNotifyChannel.js';
import { createPostChannel, settleWithin, type PostChannelStats } from './postChannel.js';
import type { PostgresNotify } from './postgresNotify.js';

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

export type NotifierStats = PostChannelStats & PgNotifyStats;

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

/**
 * Tells the app about every committed page, through the channels the config names: signed POSTs to
 * `notify.url` (postChannel.ts) and/or a best-effort `NOTIFY notify.pgChannel` (pgNotifyChannel.ts),
 * with the same payload. Returns undefined when neither is configured.
 */
export function createNotifier(config: Config['notify'], deps: NotifierDeps, tuning: NotifierTuning = {}): Notifier | undefined {
    const { url, signingKey, pgChannel } = config;
    if (url === undefined && pgChannel === undefined) return undefined;
    if (url !== undefined && signingKey === undefined) throw new Error('notify.signingKey is required when notify.url is set');
    const { logger, events, postgres } = deps;
    if (pgChannel !== undefined && postgres === undefined) throw new Error('notify.pgChannel needs a Postgres connection to NOTIFY on');
    const warnIntervalMs = tuning.warnIntervalMs ?? 60_000;
    const stopTimeoutMs = tuning.stopTimeoutMs ?? 1000;
    const post =
        url === undefined
            ? undefined
            : createPostChannel({
                  url,
                  signingKey: signingKey!,
                  timeoutMs: config.timeoutSeconds * 1000,
                  maxBacklog: config.maxBacklog,
                  concurrency: Math.max(1, tuning.concurrency ?? 4),
                  retry: { baseDelayMs: tuning.retryBaseDelayMs ?? 1000, maxDelayMs: tuning.retryMaxDelayMs ?? 60_000 },
                  warnIntervalMs,
                  stopTimeoutMs,
                  logger,
                  events,
              });
    const pg = pgChannel === undefined ? undefined : createPgNotifyChannel({ channel: pgChannel, postgres: postgres!, maxQueued: config.maxBacklog, warnIntervalMs, logger });
    let started = false;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    const onPage = (page: PageCommitted) => notifier.enqueue(page);

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
                pg?.send(body);
                post?.send(page.key, body);
            } catch (err) {
                // Never let a notification problem fail the page that was just committed.
                logger.error({ err }, 'could not queue a notification');
            }
        },
        get dropped() {
            return post?.stats().dropped ?? 0;
        },
        stats() {
            return { backlog: 0, sending: 0, delivered: 0, dropped: 0, failedAttempts: 0, ...post?.stats(), pgNotified: 0, pgFailed: 0, pgSkipped: 0, ...pg?.stats() };
        },
        pending() {
            return post?.pending() ?? [];
        },
        stop() {
            stopping ??= (async () => {
                stopped = true;
                events.off('pageCommitted', onPage);
                await Promise.all([post?.stop(), pg ? settleWithin([pg.drained()], stopTimeoutMs) : undefined]);
                pg?.stop();
            })();
            return stopping;
        },
    };
    return notifier;
}
