import type { Logger } from 'pino';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import type { KeyStates, Leases } from '../storage/store.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import { isAllowed, type AllowEntry } from '../domain/allowList.js';
import type { PullScheduler } from './pullScheduler.js';

export interface ReconcilerDeps {
    keys: Pick<KeyStates, 'listActiveKeys'>;
    leases: Pick<Leases, 'claimLease'>;
    scheduler: PullScheduler;
    logger: Logger;
    intervalMs: number;
    /** Who this daemon is, for the lease that lets one daemon of a group run each pass. */
    holder: string;
    /** The `models` allow-list: keys it no longer names are not pulled. */
    allowList?: readonly AllowEntry[];
    events?: DaemonEvents;
    /** `sync.discover`: seeds keys for Nango's connections × sync models at the start of each pass. A failure is logged, not fatal. */
    discover?: () => Promise<unknown>;
}

export interface Reconciler {
    /** One pass over every key that is not gone; resolves with the records found. */
    runPass(): Promise<number>;
    /** A pass if no daemon sharing the database ran one within the interval; null when another did. */
    runScheduledPass(): Promise<number | null>;
    /** A pass now (a daemon that was down missed webhooks), then one per interval. */
    start(): void;
    stop(): void;
}

/**
 * Nango gives up on a webhook after 3 tries within about 10 s, so lost webhooks are normal:
 * every interval, every active key is pulled from its cursor, and what that finds is logged.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;

    async function runPass(): Promise<number> {
        const started = performance.now();
        if (deps.discover) {
            try {
                await deps.discover();
            } catch (err) {
                deps.logger.warn({ err }, 'discovery failed; this pass pulls the keys already known');
            }
        }
        const keys = (await deps.keys.listActiveKeys()).filter((k) => isAllowed(k, deps.allowList ?? []));
        const outcomes = await Promise.all(keys.map((key) => deps.scheduler.request(key, 'reconcile')));
        // Only pulls the pass itself started: records a webhook-led pull found were announced.
        const found = outcomes.filter((o) => o.reason === 'reconcile').reduce((n, o) => n + o.records, 0);
        const failed = outcomes.filter((o) => o.outcome === 'failed').length;
        deps.logger.info({ keys: keys.length, found, failed, durationMs: Math.round(performance.now() - started) }, `reconcile pass found ${found} records that no webhook announced`);
        deps.events?.emit('reconcilePass', { keys: keys.length, found });
        return found;
    }

    async function runScheduledPass(): Promise<number | null> {
        // Daemons sharing a Postgres mirror race for the lease; the winner runs the pass for the
        // group and the others skip it. 90% of the interval, so timer jitter never skips a pass.
        const now = Date.now();
        const claimed = await deps.leases.claimLease('reconcile', deps.holder, dateToMicroIso(new Date(now)), dateToMicroIso(new Date(now + deps.intervalMs * 0.9)));
        if (!claimed) {
            deps.logger.debug('another daemon ran this reconcile pass');
            return null;
        }
        return runPass();
    }

    function schedule(delayMs: number): void {
        if (stopped) return;
        timer = setTimeout(() => {
            runScheduledPass()
                .catch((err: unknown) => deps.logger.error({ err }, 'reconcile pass failed'))
                .finally(() => schedule(deps.intervalMs));
        }, delayMs);
        timer.unref();
    }

    return {
        runPass,
        runScheduledPass,
        start() {
            if (deps.intervalMs > 0 && !timer) schedule(0);
        },
        stop() {
            stopped = true;
            if (timer) clearTimeout(timer);
        },
    };
}
