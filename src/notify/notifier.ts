import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import type { ChangeLog, KeyStates, Leases } from '../storage/store.js';
import { createLogDelivery, settleWithin, type LogDeliveryStats, type NoticeLag } from './logDelivery.js';
import { noticeBody, type PageCommitted } from './notice.js';
import { createPgNotifyChannel, type PgNotifyStats } from './pgNotifyChannel.js';
import type { PostgresNotify } from './postgresNotify.js';

/** Internal knobs (not config keys): the defaults suit production; tests make retries fast. */
export interface NotifierTuning {
    /** POSTs in flight at once across keys (a key never has more than one). @default 4 */
    concurrency?: number;
    /** Base of the jittered exponential backoff between tries of one key's notice. @default 1000 */
    retryBaseDelayMs?: number;
    /** Cap of that backoff. @default 60000 */
    retryMaxDelayMs?: number;
    /** At most one warn line per this interval for failing POSTs and for failing NOTIFYs. @default 60000 */
    warnIntervalMs?: number;
    /** How long stop() waits for aborted POSTs and queued NOTIFYs to settle. @default 1000 */
    stopTimeoutMs?: number;
    /** How often the change log is read for other replicas' commits. @default 500 */
    pollMs?: number;
    /** Changes read per delivery batch. @default 1000 */
    batchSize?: number;
    /** The delivery lease's time to live (several daemons on one Postgres database). @default 15000 */
    leaseTtlMs?: number;
}

export interface NotifierDeps {
    /** `NOTIFY`, for `notify.pgChannel` (Postgres only). */
    postgres?: PostgresNotify;
    logger: Logger;
    /** `pageCommitted` is listened to: it wakes the delivery and sends the NOTIFY. */
    events: DaemonEvents;
    /** The change log the POSTs are read from, and where the subscriber's position is kept. */
    changes: ChangeLog;
    keys: Pick<KeyStates, 'getKeyStatus'>;
    /** Several daemons on one database (Postgres): one delivers per subscriber, by lease. */
    lease?: { leases: Leases; holder: string };
}

export type NotifierStats = LogDeliveryStats & PgNotifyStats;

export interface Notifier {
    /** Starts listening to `pageCommitted` and delivering from the change log. */
    start(): void;
    /** A page committed: NOTIFY it, and read the log now. Synchronous, never throws: ingestion never waits for the app. */
    enqueue(page: PageCommitted): void;
    stats(): NotifierStats;
    /** How far the `notify.url` subscriber is behind the change log; undefined without `notify.url`. */
    lag(): Promise<NoticeLag | undefined>;
    /** Stops listening and retrying, aborts POSTs in flight; undelivered changes wait in the log. Safe to call twice. */
    stop(): Promise<void>;
}

/**
 * Tells the app about committed pages, through the channels the config names: signed POSTs to
 * `notify.url`, read from the change log after a stored position (logDelivery.ts), and/or a
 * best-effort `NOTIFY notify.pgChannel` (pgNotifyChannel.ts). Returns undefined when neither is configured.
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
            : createLogDelivery({
                  url,
                  signingKey: signingKey!,
                  timeoutMs: config.timeoutSeconds * 1000,
                  concurrency: Math.max(1, tuning.concurrency ?? 4),
                  retry: { baseDelayMs: tuning.retryBaseDelayMs ?? 1000, maxDelayMs: tuning.retryMaxDelayMs ?? 60_000 },
                  warnIntervalMs,
                  stopTimeoutMs,
                  pollMs: tuning.pollMs ?? 500,
                  batchSize: tuning.batchSize ?? 1000,
                  changes: deps.changes,
                  keys: deps.keys,
                  ...(deps.lease ? { lease: { ...deps.lease, ttlMs: tuning.leaseTtlMs ?? 15_000 } } : {}),
                  logger,
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
            post?.start();
        },
        enqueue(page) {
            if (stopped) return;
            try {
                pg?.send(noticeBody(page));
                post?.wake();
            } catch (err) {
                // Never let a notification problem fail the page that was just committed.
                logger.error({ err }, 'could not queue a notification');
            }
        },
        stats() {
            return { backlog: 0, sending: 0, delivered: 0, dropped: 0, failedAttempts: 0, ...post?.stats(), pgNotified: 0, pgFailed: 0, pgSkipped: 0, ...pg?.stats() };
        },
        async lag() {
            return post?.lag();
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
