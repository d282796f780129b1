import type { Logger } from 'pino';
import { dateToMicroIso } from '../domain/timestamps.js';
import type { ChangeLog } from '../storage/store.js';

export interface ChangeRetentionOptions {
    changes: Pick<ChangeLog, 'pruneChanges'>;
    logger: Logger;
    /** `changes.retentionHours`. */
    retentionHours: number;
    /** `changes.maxRows`. */
    maxRows: number;
    /** How often retention runs. @default 60000 */
    intervalMs?: number;
    /** Rows deleted per transaction, so a prune never holds the writer (or the event loop) long. @default 5000 */
    batch?: number;
    now?: () => number;
}

/**
 * Deletes the change log's rows past `changes.retentionHours` or beyond `changes.maxRows`, on a
 * timer of its own (reconcile may be off). Every replica runs it: two prunes of one Postgres log
 * delete the same oldest rows, and the later one finds them gone.
 */
export function createChangeRetention(options: ChangeRetentionOptions): { start(): void; stop(): Promise<void>; runOnce(): Promise<number> } {
    const { changes, logger } = options;
    const now = options.now ?? Date.now;
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<number> | undefined;
    const runOnce = () =>
        (running ??= (async () => {
            try {
                const deleted = await changes.pruneChanges({
                    olderThan: dateToMicroIso(new Date(now() - options.retentionHours * 3_600_000)),
                    maxRows: options.maxRows,
                    batch: options.batch ?? 5000,
                });
                if (deleted > 0) logger.info({ deleted }, 'pruned the change log (changes.retentionHours, changes.maxRows)');
                return deleted;
            } catch (err) {
                logger.warn({ err }, 'could not prune the change log; trying again at the next interval');
                return 0;
            } finally {
                running = undefined;
            }
        })());
    return {
        start() {
            if (timer) return;
            // Once at start (a daemon that was down, or a lower changes.maxRows), then every interval.
            void runOnce();
            timer = setInterval(() => void runOnce(), options.intervalMs ?? 60_000).unref();
        },
        async stop() {
            clearInterval(timer);
            timer = undefined;
            await running;
        },
        runOnce,
    };
}
