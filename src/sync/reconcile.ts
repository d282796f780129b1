import type { Logger } from 'pino';
import type { MirrorStore } from '../storage/mirrorStore.js';
import type { PullScheduler } from './pullScheduler.js';

export interface ReconcilerDeps {
    store: MirrorStore;
    scheduler: PullScheduler;
    logger: Logger;
    intervalMs: number;
    /** Told how many records each pass found: changes no webhook announced. */
    onPass?: (found: number) => void;
}

export interface Reconciler {
    /** One pass over every key that is not gone; resolves with the records found. */
    runPass(): Promise<number>;
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
        const keys = await deps.store.listActiveKeys();
        const outcomes = await Promise.all(keys.map((key) => deps.scheduler.request(key, 'reconcile')));
        // Only pulls the pass itself started: records a webhook-led pull found were announced.
        const found = outcomes.filter((o) => o.reason === 'reconcile').reduce((n, o) => n + o.records, 0);
        const failed = outcomes.filter((o) => o.outcome === 'failed').length;
        deps.logger.info({ keys: keys.length, found, failed, durationMs: Math.round(performance.now() - started) }, `reconcile pass found ${found} records that no webhook announced`);
        deps.onPass?.(found);
        return found;
    }

    function schedule(delayMs: number): void {
        if (stopped) return;
        timer = setTimeout(() => {
            runPass()
                .catch((err: unknown) => deps.logger.error({ err }, 'reconcile pass failed'))
                .finally(() => schedule(deps.intervalMs));
        }, delayMs);
        timer.unref();
    }

    return {
        runPass,
        start() {
            if (deps.intervalMs > 0 && !timer) schedule(0);
        },
        stop() {
            stopped = true;
            if (timer) clearTimeout(timer);
        },
    };
}
