import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import type { ChangeLog, KeyStates, Leases } from '../storage/store.js';
import { createLogDelivery, type LogDeliveryStats, type NoticeLag } from './logDelivery.js';

/** Internal knobs (not config keys): the defaults suit production; tests make retries fast. */
export interface NotifierTuning {
    /** POSTs in flight at once across keys (a key never has more than one). @default 4 */
    concurrency?: number;
    /** Base of the jittered exponential backoff between tries of one key's notice. @default 1000 */
    retryBaseDelayMs?: number;
    /** Cap of that backoff. @default 60000 */
    retryMaxDelayMs?: number;
    /** At most one warn line per this interval for failing POSTs. @default 60000 */
    warnIntervalMs?: number;
    /** How long stop() waits for aborted POSTs to settle. @default 1000 */
    stopTimeoutMs?: number;
    /** How often the change log is read for other replicas' commits. @default 500 */
    pollMs?: number;
    /** Changes read per delivery batch. @default 1000 */
    batchSize?: number;
    /** The delivery lease's time to live (several daemons on one Postgres database). @default 10000 */
    leaseTtlMs?: number;
}

export interface NotifierDeps {
    logger: Logger;
    /** `pageCommitted` is listened to: it wakes the delivery. */
    events: DaemonEvents;
    /** The change log the POSTs are read from, and where the subscriber's position is kept. */
    changes: ChangeLog;
    keys: Pick<KeyStates, 'getKeyStatus'>;
    /** Several daemons on one database (Postgres): one delivers per subscriber, by lease. */
    lease?: { leases: Leases; holder: string };
}

export type NotifierStats = LogDeliveryStats;

export interface Notifier {
    /** Starts listening to `pageCommitted` and delivering from the change log. */
    start(): void;
    /** A page committed: read the log now. Synchronous, never throws: ingestion never waits for the app. */
    wake(): void;
    stats(): NotifierStats;
    /** How far the `notify.url` subscriber is behind the change log. */
    lag(): Promise<NoticeLag>;
    /** Stops listening and retrying, aborts POSTs in flight; undelivered changes wait in the log. Safe to call twice. */
    stop(): Promise<void>;
}

/**
 * Tells the app about committed pages by signed POSTs to `notify.url`, read from the change log
 * after a stored position (logDelivery.ts). Returns undefined without `notify.url`. The
 * `notify.pgChannel` NOTIFY is not here: each page's transaction sends it
 * (storage/postgres/pageWriter.ts), so Postgres delivers it at the commit.
 */
export function createNotifier(config: Config['notify'], deps: NotifierDeps, tuning: NotifierTuning = {}): Notifier | undefined {
    const { url, signingKey } = config;
    if (url === undefined) return undefined;
    if (signingKey === undefined) throw new Error('notify.signingKey is required when notify.url is set');
    const { logger, events } = deps;
    const post = createLogDelivery({
        url,
        signingKey,
        timeoutMs: config.timeoutSeconds * 1000,
        concurrency: Math.max(1, tuning.concurrency ?? 4),
        retry: { baseDelayMs: tuning.retryBaseDelayMs ?? 1000, maxDelayMs: tuning.retryMaxDelayMs ?? 60_000 },
        warnIntervalMs: tuning.warnIntervalMs ?? 60_000,
        stopTimeoutMs: tuning.stopTimeoutMs ?? 1000,
        pollMs: tuning.pollMs ?? 500,
        batchSize: tuning.batchSize ?? 1000,
        changes: deps.changes,
        keys: deps.keys,
        ...(deps.lease ? { lease: { ...deps.lease, ttlMs: tuning.leaseTtlMs ?? 10_000 } } : {}),
        logger,
    });
    let started = false;
    let stopped = false;
    let stopping: Promise<void> | undefined;
    const onPage = () => notifier.wake();

    const notifier: Notifier = {
        start() {
            if (started || stopped) return;
            started = true;
            events.on('pageCommitted', onPage);
            post.start();
        },
        wake() {
            if (!stopped) post.wake();
        },
        stats: () => post.stats(),
        lag: () => post.lag(),
        stop() {
            stopping ??= (async () => {
                stopped = true;
                events.off('pageCommitted', onPage);
                await post.stop();
            })();
            return stopping;
        },
    };
    return notifier;
}
