import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { DaemonEventMap, DaemonEvents } from '../domain/daemonEvents.js';
import { ageSeconds } from '../domain/keyState.js';
import type { RateBudget } from '../nango/rateBudget.js';
import type { KeySummary, KeyStates } from '../storage/store.js';

export interface MetricsDeps {
    events: DaemonEvents;
    keys: Pick<KeyStates, 'summarizeKeys'>;
    /** The daemon's API budget: its last reading is exported. */
    budget?: Pick<RateBudget, 'reading' | 'reservedPoints'>;
    /** One per daemon (tests start many daemons in one process); a new one when not given. */
    registry?: Registry;
    /** @default Date.now */
    now?: () => number;
    /** How far `notify.url` deliveries are behind the change log (notify/logDelivery.ts); undefined without `notify.url`. */
    noticeLag?: () => Promise<{ seq: number; seconds: number } | undefined>;
}

export interface Metrics {
    registry: Registry;
    /** Stops listening to the daemon's events (the registry keeps its last values). */
    close(): void;
}

/** The names, for the status page and tests. Labels are bounded: never a connection id or a key. */
export const METRIC = {
    webhooks: 'nango_mirror_webhooks_total',
    recordsWritten: 'nango_mirror_records_written_total',
    pulls: 'nango_mirror_pulls_total',
    nangoRequests: 'nango_mirror_nango_requests_total',
    rateLimitedSeconds: 'nango_mirror_rate_limited_seconds_total',
    pendingKeys: 'nango_mirror_pending_keys',
    oldestSuccessAge: 'nango_mirror_oldest_success_age_seconds',
    countDriftKeys: 'nango_mirror_count_drift_keys',
    reconcileFound: 'nango_mirror_reconcile_found_records_total',
    pullDuration: 'nango_mirror_pull_duration_seconds',
} as const;

const WEBHOOK_TYPES = new Set(['sync', 'auth', 'forward', 'async_action', 'other', 'unknown']);
const PULL_OUTCOMES = ['ok', 'failed', 'gone', 'aborted', 'busy', 'yielded'] as const;
const PULL_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Any other webhook `type` (a forwarded payload can say anything) is `other`, so the label set stays bounded. */
export function webhookTypeLabel(type: string): string {
    return WEBHOOK_TYPES.has(type) ? type : 'other';
}

/** Outcomes are the daemon's own codes; anything that does not look like one becomes `other`. */
function codeLabel(code: string): string {
    return /^[a-z][a-z0-9_]{0,39}$/.test(code) ? code : 'other';
}

const REQUEST_REASONS = new Set(['webhook', 'admin', 'pending', 'seeded', 'reconcile', 'pull', 'discovery', 'sync_status']);

/** A fixed set of values, so the label's cardinality stays bounded. */
function reasonLabel(reason: string): string {
    return REQUEST_REASONS.has(reason) ? reason : 'other';
}

function statusLabel(status: number | 'network_error'): string {
    if (status === 'network_error') return status;
    return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
}

/**
 * Node's process metrics, made once per process and shared by every daemon's registry: each
 * collectDefaultMetrics call starts an event-loop timer and a GC observer that are never stopped.
 */
let processMetrics: Registry | undefined;

function addProcessMetrics(registry: Registry): void {
    if (!processMetrics) {
        processMetrics = new Registry();
        collectDefaultMetrics({ register: processMetrics });
    }
    // getMetricsAsArray() is typed as plain objects, but holds the metric instances.
    for (const metric of processMetrics.getMetricsAsArray() as unknown as Metric[]) {
        // A registry the embedding app already fills with default metrics keeps its own.
        const { name } = metric as unknown as { name: string };
        if (!registry.getSingleMetric(name)) registry.registerMetric(metric);
    }
}

/** The Prometheus metrics of one daemon, fed by its events and, at scrape time, by the store. */
export function createMetrics(deps: MetricsDeps): Metrics {
    const registry = deps.registry ?? new Registry();
    const now = deps.now ?? Date.now;
    const registers = [registry];
    addProcessMetrics(registry);

    const webhooks = new Counter({
        name: METRIC.webhooks,
        help: 'Webhooks answered, by Nango webhook type (sync, auth, forward, async_action, other, unknown) and outcome.',
        labelNames: ['type', 'outcome'] as const,
        registers,
    });
    const recordsWritten = new Counter({
        name: METRIC.recordsWritten,
        help: 'Mirror rows written by committed pages: upserted or deleted.',
        labelNames: ['action'] as const,
        registers,
    });
    const pulls = new Counter({
        name: METRIC.pulls,
        help: 'Pulls finished, by outcome (ok, failed, gone, aborted; busy: another daemon was pulling the key; yielded: a long pull gave its slot back after a page and was queued again).',
        labelNames: ['outcome'] as const,
        registers,
    });
    const nangoRequests = new Counter({
        name: METRIC.nangoRequests,
        help:
            'Answers from the Nango API, by HTTP status ("network_error" when there was none) and by why the request was made: a pull\'s reason ' +
            '(webhook, admin, pending = a stored announced request, seeded = a stored background request, reconcile; pull = the CLI), discovery or sync_status. ' +
            'rate(...[1m]) * 60 is the requests a minute the mirror spends of the account\'s rate limit.',
        labelNames: ['status', 'reason'] as const,
        registers,
    });
    const rateLimitedSeconds = new Counter({
        name: METRIC.rateLimitedSeconds,
        help: 'Seconds of waiting that Nango 429 answers imposed on every key.',
        registers,
    });
    const reconcileFound = new Counter({
        name: METRIC.reconcileFound,
        help: 'Records reconcile passes found that no webhook announced.',
        registers,
    });
    const syncStatusUnavailable = new Counter({
        name: 'nango_mirror_sync_status_unavailable_total',
        help: "Reconcile passes that could not read Nango's sync status for an integration (its keys were pulled one by one instead).",
        registers,
    });
    const pullDuration = new Histogram({
        name: METRIC.pullDuration,
        help: 'Duration of pulls this daemon ran (busy skips aside), in seconds.',
        buckets: PULL_DURATION_BUCKETS,
        registers,
    });

    // The gauges read the same aggregate; one scrape asks the store once, and the database does the
    // counting (at 20,000 keys, listing every key to count them cost 153 ms of the main thread a scrape).
    let inFlight: Promise<KeySummary> | undefined;
    const summary = () => {
        inFlight ??= deps.keys.summarizeKeys().finally(() => {
            inFlight = undefined;
        });
        return inFlight;
    };
    new Gauge({
        name: METRIC.pendingKeys,
        help: 'Keys with a pull request that no finished pull covers yet (gone keys aside; failed keys waiting to retry count).',
        registers,
        async collect() {
            this.set((await summary()).pendingKeys);
        },
    });
    new Gauge({
        name: 'nango_mirror_nango_error_keys',
        help: "Keys (gone aside) whose sync Nango's status reported in ERROR at the last reconcile pass.",
        registers,
        async collect() {
            this.set((await summary()).nangoErrorKeys);
        },
    });
    new Gauge({
        name: METRIC.countDriftKeys,
        help: "Base-variant keys whose live rows (pruned ones included) at the end of their last pull disagree with Nango's recordCount, read by a later reconcile pass, where that pull started after Nango's latest run finished. Variants are excluded: Nango reports the base variant's count for them.",
        registers,
        async collect() {
            this.set((await summary()).countDriftKeys);
        },
    });
    new Gauge({
        name: METRIC.oldestSuccessAge,
        help: 'Seconds since the least recently successful key (gone keys aside) last succeeded; never-successful keys count from their first pull request. 0 with no keys.',
        registers,
        async collect() {
            this.set(ageSeconds((await summary()).oldestSuccessAt, now()));
        },
    });

    // Both read one lag (a scrape asks the store once).
    const noticeLag = deps.noticeLag;
    if (noticeLag) {
        let lagInFlight: Promise<{ seq: number; seconds: number } | undefined> | undefined;
        const lag = () => {
            lagInFlight ??= noticeLag().finally(() => {
                lagInFlight = undefined;
            });
            return lagInFlight;
        };
        const gauges: Array<[name: string, help: string, value: (l: { seq: number; seconds: number }) => number]> = [
            ['nango_mirror_notify_lag_seq', 'Changes committed to the change log and not yet delivered to notify.url (latest seq − the subscriber position). Absent without notify.url.', (l) => l.seq],
            ['nango_mirror_notify_lag_seconds', 'Age in seconds of the oldest change not yet delivered to notify.url; 0 when caught up. Absent without notify.url.', (l) => l.seconds],
        ];
        for (const [name, help, value] of gauges) {
            new Gauge({
                name,
                help,
                registers,
                async collect() {
                    const l = await lag();
                    this.reset();
                    if (l) this.set(value(l));
                },
            });
        }
    }

    const budget = deps.budget;
    if (budget) {
        new Gauge({
            name: 'nango_mirror_nango_rate_limit_remaining',
            help: "Requests left in the Nango account's current rate-limit window, as the last answer's X-RateLimit-Remaining said (the app's requests count too). Absent before the first answer.",
            registers,
            collect() {
                this.reset();
                if (budget.reading) this.set(budget.reading.remaining);
            },
        });
        new Gauge({
            name: 'nango_mirror_nango_rate_limit_limit',
            help: "The Nango account's requests per rate-limit window (X-RateLimit-Limit). Absent before the first answer.",
            registers,
            collect() {
                this.reset();
                if (budget.reading) this.set(budget.reading.limit);
            },
        });
        new Gauge({
            name: 'nango_mirror_nango_rate_limit_reserve',
            help: 'Requests of each window that background pulls (reconcile, discovery, safety net) leave to the app and to announced changes (sync.rateLimitReserve of the limit).',
            registers,
            collect() {
                this.set(budget.reservedPoints);
            },
        });
    }

    // Present at 0 from the start, so rate() and alerts see them before the first event.
    for (const action of ['upserted', 'deleted']) recordsWritten.inc({ action }, 0);
    for (const outcome of PULL_OUTCOMES) pulls.inc({ outcome }, 0);

    const subscriptions: Array<() => void> = [];
    const listen = <E extends keyof DaemonEventMap>(event: E, listener: (...args: DaemonEventMap[E]) => void) => {
        // TypeScript cannot resolve EventEmitter's conditional listener type for a generic E; the signature above is the check.
        deps.events.on(event, listener as never);
        subscriptions.push(() => deps.events.off(event, listener as never));
    };
    listen('webhook', ({ type, outcome }) => webhooks.inc({ type: webhookTypeLabel(type), outcome: codeLabel(outcome) }));
    listen('nangoResponse', ({ status, reason }) => nangoRequests.inc({ status: statusLabel(status), reason: reasonLabel(reason) }));
    listen('rateLimited', ({ waitMs }) => rateLimitedSeconds.inc(Math.max(0, waitMs) / 1000));
    listen('pageCommitted', ({ upserted, deleted }) => {
        if (upserted > 0) recordsWritten.inc({ action: 'upserted' }, upserted);
        if (deleted > 0) recordsWritten.inc({ action: 'deleted' }, deleted);
    });
    listen('pullFinished', ({ outcome, durationMs }) => {
        pulls.inc({ outcome: codeLabel(outcome) });
        // A pull that gave its slot back is one turn of a longer pull, not a pull's duration.
        if (outcome !== 'busy' && outcome !== 'yielded') pullDuration.observe(Math.max(0, durationMs) / 1000);
    });
    listen('reconcilePass', ({ found }) => {
        if (found > 0) reconcileFound.inc(found);
    });
    listen('syncStatusUnavailable', () => syncStatusUnavailable.inc());

    return {
        registry,
        close() {
            for (const unsubscribe of subscriptions.splice(0)) unsubscribe();
        },
    };
}
