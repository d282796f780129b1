import type { Logger } from 'pino';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import { isAllowed, type AllowEntry } from '../domain/allowList.js';
import { describeKey, keyString, type SyncKey } from '../domain/syncKey.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import type { SyncStatusClient, SyncStatusItem } from '../nango/syncStatus.js';
import type { KeyStates, Leases, PullRequests } from '../storage/store.js';
import { planReconcile } from './planReconcile.js';
import type { PullScheduler } from './pullScheduler.js';
import type { KeyStatus } from '../domain/keyState.js';
import { createPacer, inBatches, yieldToLoop } from '../lib/yieldToLoop.js';

/** Keys read, seeded or recorded between two turns of the event loop (1,000 rows read held SQLite's loop 20–50 ms on a loaded machine). */
const BATCH = 500;
/** The pass's keys with the scheduler at once: more than any `sync.concurrency` keeps busy (at most 256), far fewer than a pass has keys. */
const PASS_LANES = 512;

export interface ReconcilerDeps {
    keys: Pick<KeyStates, 'listKeysAfter' | 'listCountDrift'>;
    leases: Pick<Leases, 'claimLease'>;
    /** Seeds the keys Nango's status lists that the mirror does not know yet. */
    requests: Pick<PullRequests, 'seedKeys' | 'recordNangoSyncStatus' | 'purgeDeletedConnections'>;
    /** `sync.purgeDeletedConnectionsAfterHours` in ms: each pass first hard-deletes the rows of connections deleted longer ago; 0 = never. @default 0 */
    purgeDeletedConnectionsAfterMs?: number;
    /**
     * Nango's `GET /sync/status`: with it, a pass pulls only the keys whose sync ran since their last
     * pull (planReconcile.ts); without it, every key.
     */
    syncStatus?: SyncStatusClient;
    /** `sync.fullReconcileIntervalSeconds` in ms: with the status, every key is still pulled at least this often; 0 = never. @default 0 */
    fullIntervalMs?: number;
    /** Clock slack for Nango's `finishedAt` (planReconcile.ts). Internal: tests set 0. */
    finishedAtSlackMs?: number;
    scheduler: PullScheduler;
    logger: Logger;
    intervalMs: number;
    /** Who this daemon is, for the lease that lets one daemon of a group run each pass. */
    holder: string;
    /** The `models` allow-list: keys it no longer names are not pulled. */
    allowList?: readonly AllowEntry[];
    events?: DaemonEvents;
    /**
     * `sync.discover`: seeds keys for Nango's connections × sync models at the start of each pass,
     * skipping the keys the mirror knows. A failure is logged, not fatal.
     */
    discover?: (known: ReadonlySet<string>) => Promise<{ added: number }>;
    /**
     * `sync.views.auto`: reads Nango's model schemas and replaces the generated views whose schema
     * changed, after discovery (sync/typedViews.ts). A failure is logged, not fatal.
     */
    refreshViews?: () => Promise<unknown>;
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

/** How many drifting keys a pass names in its warning. */
const COUNT_DRIFT_LOGGED = 5;

/**
 * Nango gives up on a webhook after 3 tries within about 10 s, so lost webhooks are normal:
 * every interval, the keys whose sync ran since their last pull (every key, without Nango's sync
 * status) are pulled from their cursors, and what that finds is logged.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    /** Integrations whose status could not be read, warned about once each. */
    const warnedUnavailable = new Set<string>();

    /** One `GET /sync/status` per integration in use, one at a time; null for one that failed (its keys fall back to a pull each). */
    async function readStatus(integrations: Iterable<string>): Promise<Map<string, SyncStatusItem[] | null>> {
        const status = new Map<string, SyncStatusItem[] | null>();
        for (const providerConfigKey of integrations) {
            try {
                status.set(providerConfigKey, deps.syncStatus ? await deps.syncStatus.getSyncStatus(providerConfigKey) : null);
                warnedUnavailable.delete(providerConfigKey);
            } catch (err) {
                status.set(providerConfigKey, null);
                deps.events?.emit('syncStatusUnavailable', { providerConfigKey });
                if (!warnedUnavailable.has(providerConfigKey)) {
                    warnedUnavailable.add(providerConfigKey);
                    deps.logger.warn(
                        { err, providerConfigKey },
                        "could not read Nango's sync status (GET /sync/status; the API key needs environment:syncs:read): this integration's keys are pulled one by one at each pass",
                    );
                }
            }
        }
        return status;
    }

    /**
     * Right after Nango's counts are stored: the first keys whose live rows at the end of their last
     * pull disagree with them (storage/countDrift.ts), one line a pass while any do.
     */
    async function warnCountDrift(): Promise<void> {
        const drift = await deps.keys.listCountDrift(COUNT_DRIFT_LOGGED);
        if (drift.length === 0) return;
        deps.logger.warn(
            { keys: drift.map((d) => ({ key: describeKey(d), mirrorLiveRows: d.liveRowsAtFinish, nangoRecordCount: d.nangoRecordCount })) },
            `the mirror's live rows disagree with Nango's record count after a pull that covered Nango's latest run (first ${COUNT_DRIFT_LOGGED} keys at most; nango_mirror_count_drift_keys counts them all)`,
        );
    }

    /** The keys' strings, the event loop running between batches (20,000 at once held it ~20 ms). */
    async function keyStrings(keys: readonly KeyStatus[]): Promise<Set<string>> {
        const pace = createPacer(BATCH);
        const strings = new Set<string>();
        for (const k of keys) {
            await pace();
            strings.add(keyString(k));
        }
        return strings;
    }

    /** Every key, a batch at a time: at 20,000 keys one read of all of them held the loop for hundreds of ms. */
    async function readKeys(): Promise<KeyStatus[]> {
        const all: KeyStatus[] = [];
        for (let after: KeyStatus | null = null; ; ) {
            const batch = await deps.keys.listKeysAfter(after, BATCH);
            all.push(...batch);
            if (batch.length < BATCH) return all;
            after = batch[batch.length - 1]!;
            await yieldToLoop();
        }
    }

    async function runPass(): Promise<number> {
        const started = performance.now();
        if (deps.purgeDeletedConnectionsAfterMs) {
            const purged = await deps.requests.purgeDeletedConnections(dateToMicroIso(new Date(Date.now() - deps.purgeDeletedConnectionsAfterMs)));
            if (purged.records > 0 || purged.keys > 0) deps.logger.info(purged, 'purged the rows and keys of connections Nango deleted (sync.purgeDeletedConnectionsAfterHours)');
        }
        let known = await readKeys();
        if (deps.discover) {
            try {
                // Only what the mirror does not know is seeded: a pass over 20,000 known keys writes nothing.
                const { added } = await deps.discover(await keyStrings(known));
                if (added > 0) known = await readKeys();
            } catch (err) {
                deps.logger.warn({ err }, 'discovery failed; this pass pulls the keys already known');
            }
        }
        if (deps.refreshViews) {
            try {
                await deps.refreshViews();
            } catch (err) {
                deps.logger.warn({ err }, "could not read Nango's scripts config for the typed views; they are left as they are");
            }
        }
        const allowList = deps.allowList ?? [];
        let keys: SyncKey[] = known.filter((k) => k.status !== 'gone' && isAllowed(k, allowList));
        let unchanged = 0;
        let discovered = 0;
        if (deps.syncStatus) {
            const integrations = new Set([...keys.map((k) => k.providerConfigKey), ...allowList.map((e) => e.providerConfigKey)]);
            const plan = await planReconcile({ keys: known, status: await readStatus(integrations), allowList, nowMs: Date.now(), fullIntervalMs: deps.fullIntervalMs ?? 0, ...(deps.finishedAtSlackMs === undefined ? {} : { slackMs: deps.finishedAtSlackMs }) });
            if (plan.discovered.length > 0) {
                const at = dateToMicroIso(new Date());
                discovered = (await inBatches(plan.discovered, BATCH, (batch) => deps.requests.seedKeys(batch, at))).reduce((a, b) => a + b, 0);
                deps.logger.info({ keys: plan.discovered.length }, "keys Nango's sync status lists that the mirror did not know (variants included): pulling them");
            }
            const at = dateToMicroIso(new Date());
            await inBatches(plan.observed, BATCH, (batch) => deps.requests.recordNangoSyncStatus(batch, at));
            await warnCountDrift();
            keys = [...plan.pull, ...plan.discovered];
            // Every key's stored state is planned: let it go for the rest of the pass (20,000 rows
            // kept alive while the pass pulls made each full GC longer and the peak higher).
            known = [];
            unchanged = plan.unchanged;
            deps.logger.debug({ ...plan.reasons, unchanged }, 'reconcile plan');
        }
        // A bounded number of the pass's keys are with the scheduler at a time: 20,000 queued at once
        // held 20,000 entries and their promises (peak RSS), and announced pulls overtake these anyway.
        let found = 0;
        let failed = 0;
        let next = 0;
        const lane = async () => {
            while (next < keys.length) {
                const outcome = await deps.scheduler.request(keys[next++]!, 'reconcile');
                // Only pulls the pass itself started: records a webhook-led pull found were announced.
                if (outcome.reason === 'reconcile') found += outcome.records;
                if (outcome.outcome === 'failed') failed++;
            }
        };
        await Promise.all(Array.from({ length: Math.min(PASS_LANES, keys.length) }, lane));
        deps.logger.info(
            { keys: keys.length, unchanged, discovered, found, failed, durationMs: Math.round(performance.now() - started) },
            `reconcile pass found ${found} records that no webhook announced`,
        );
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
