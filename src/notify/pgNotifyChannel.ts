import type { Logger } from 'pino';
import type { PostgresNotify } from './postgresNotify.js';
import { throttledWarning } from './throttledWarning.js';

/** Postgres refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999;

export interface PgNotifyChannelOptions {
    channel: string;
    postgres: PostgresNotify;
    /** NOTIFYs queued behind a slow database before more are skipped. */
    maxQueued: number;
    warnIntervalMs: number;
    logger: Logger;
}

export interface PgNotifyStats {
    pgNotified: number;
    pgFailed: number;
    /** NOTIFYs skipped: payload too large, or too many queued behind a slow database. */
    pgSkipped: number;
}

/** Best-effort `NOTIFY <channel>` with the notice as payload: in commit order, never retried. */
export interface PgNotifyChannel {
    send(body: string): void;
    stats(): PgNotifyStats;
    /** Resolves once the NOTIFYs queued so far have settled. */
    drained(): Promise<void>;
    stop(): void;
}

export function createPgNotifyChannel(options: PgNotifyChannelOptions): PgNotifyChannel {
    const { channel, postgres, maxQueued, logger } = options;
    const stats: PgNotifyStats = { pgNotified: 0, pgFailed: 0, pgSkipped: 0 };
    let chain: Promise<void> = Promise.resolve();
    let queued = 0;
    let lastError = '';
    let stopped = false;
    const warn = throttledWarning(options.warnIntervalMs, (n) => logger.warn({ failures: n, error: lastError, channel }, 'NOTIFY failed (best-effort; not retried)'));

    return {
        send(body) {
            if (stopped) return;
            if (Buffer.byteLength(body) > MAX_NOTIFY_BYTES || queued >= maxQueued) {
                stats.pgSkipped++;
                lastError = queued >= maxQueued ? `${queued} NOTIFYs already queued behind a slow database` : 'payload of 8000 bytes or more';
                warn.hit();
                return;
            }
            queued++;
            // One at a time, so a key's NOTIFYs arrive in commit order (a pool would interleave them).
            chain = chain
                .then(() => postgres.notify(channel, body))
                .then(
                    () => {
                        stats.pgNotified++;
                    },
                    (err: unknown) => {
                        stats.pgFailed++;
                        lastError = (err as Error).message;
                        if (!stopped) warn.hit();
                    },
                )
                .finally(() => {
                    queued--;
                });
        },
        stats: () => ({ ...stats }),
        drained: () => chain,
        stop() {
            stopped = true;
            warn.flush();
        },
    };
}
