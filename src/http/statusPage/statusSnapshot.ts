import type { Registry } from 'prom-client';
import { ageSeconds, isPending, type KeyStatus } from '../../domain/keyState.js';
import { METRIC } from '../../metrics/createMetrics.js';
import type { KeyStates } from '../../storage/store.js';
import { describeKey } from '../../domain/syncKey.js';
import { filterParams, type StatusQuery } from './statusQuery.js';

/** The fields of a key the status page shows as they are. */
type ShownFields =
    | 'providerConfigKey' | 'connectionId' | 'model' | 'variant' | 'status' | 'lastSuccessAt' | 'liveRows' | 'deletedRows' | 'lastError'
    | 'lastErrorCode' | 'consecutiveFailures' | 'nangoSyncError' | 'nangoSyncStatus' | 'nangoFinishedAt' | 'nangoRecordCount';

/** One key as the status page shows it. Every string here may come from a webhook: escape it. */
export interface StatusKeyRow extends Pick<KeyStatus, ShownFields> {
    key: string;
    /** True while a request waits for a pull (the key's work is not done). */
    pending: boolean;
    /** Seconds since the last success; null when the key never succeeded. */
    lagSeconds: number | null;
}

export interface StatusCounterValue {
    labels: Record<string, string>;
    value: number;
}

/** Which keys a snapshot shows, of how many. */
export interface StatusPaging {
    /** From 1. */
    page: number;
    perPage: number;
    /** Pages of the keys the filter matches; at least 1. */
    pages: number;
    /** Keys the filter matches (every key without a filter). */
    total: number;
    /** Positions of the first and last key shown in that order, from 1; both 0 when the page is empty. */
    first: number;
    last: number;
    /** The filter asked for, by query parameter; empty without one. */
    filter: { integration?: string; connection?: string; status?: string };
}

export interface StatusSnapshot {
    generatedAt: string;
    /** Every key, whatever the filter; the figures below too. */
    keyCount: number;
    /** Keys by stored status, those with at least one key. */
    statusCounts: Record<string, number>;
    pendingKeys: number;
    oldestSuccessAgeSeconds: number;
    /** One page, in the status page's order (`listKeyPage`, storage/store.ts): failing keys first, then the longest since a success. */
    keys: StatusKeyRow[];
    paging: StatusPaging;
    /** The counters of the daemon's registry, by metric name; absent when the registry has no such metric. */
    counters: Record<string, StatusCounterValue[]>;
    pullDuration: { count: number; sumSeconds: number } | null;
}

const COUNTERS = [METRIC.webhooks, METRIC.recordsWritten, METRIC.pulls, METRIC.nangoRequests, METRIC.rateLimitedSeconds, METRIC.reconcileFound] as const;

export interface SnapshotDeps {
    keys: Pick<KeyStates, 'listKeyPage' | 'summarizeKeys'>;
    registry: Registry;
    now?: () => number;
}

/**
 * The figures over every key come from one aggregate, the rows from one page: the cost is that of
 * the page, whatever the number of keys. With `lastPageIfPast`, a page past the last shows the last
 * (the HTML page, whose keys may have gone since its link was made); without, it is empty.
 */
export async function statusSnapshot(deps: SnapshotDeps, query: StatusQuery, options: { lastPageIfPast?: boolean } = {}): Promise<StatusSnapshot> {
    const { filter, perPage } = query;
    const readPage = (page: number) => deps.keys.listKeyPage({ filter, offset: (page - 1) * perPage, limit: perPage });
    let page = query.page;
    const [summary, firstRead] = await Promise.all([deps.keys.summarizeKeys(), readPage(page)]);
    let found = firstRead;
    const pages = Math.max(1, Math.ceil(found.total / perPage));
    if (options.lastPageIfPast && page > pages) {
        page = pages;
        found = await readPage(page);
    }
    const nowMs = (deps.now ?? Date.now)();
    const first = found.keys.length === 0 ? 0 : (page - 1) * perPage + 1;
    return {
        generatedAt: new Date(nowMs).toISOString(),
        keyCount: summary.keys,
        statusCounts: Object.fromEntries(Object.entries(summary.byStatus).filter(([, n]) => n > 0)),
        pendingKeys: summary.pendingKeys,
        oldestSuccessAgeSeconds: Math.round(ageSeconds(summary.oldestSuccessAt, nowMs)),
        keys: found.keys.map((k) => toRow(k, nowMs)),
        paging: {
            page,
            perPage,
            pages,
            total: found.total,
            first,
            last: first === 0 ? 0 : first + found.keys.length - 1,
            filter: filterParams(filter),
        },
        ...(await readRegistry(deps.registry)),
    };
}

function toRow(k: KeyStatus, nowMs: number): StatusKeyRow {
    const success = k.lastSuccessAt === null ? NaN : Date.parse(k.lastSuccessAt);
    return {
        key: describeKey(k),
        providerConfigKey: k.providerConfigKey,
        connectionId: k.connectionId,
        model: k.model,
        variant: k.variant,
        status: k.status,
        pending: isPending(k),
        lastSuccessAt: k.lastSuccessAt,
        lagSeconds: Number.isNaN(success) ? null : Math.max(0, Math.round((nowMs - success) / 1000)),
        liveRows: k.liveRows,
        deletedRows: k.deletedRows,
        lastError: k.lastError,
        lastErrorCode: k.lastErrorCode,
        consecutiveFailures: k.consecutiveFailures,
        nangoSyncError: k.nangoSyncError,
        nangoSyncStatus: k.nangoSyncStatus,
        nangoFinishedAt: k.nangoFinishedAt,
        nangoRecordCount: k.nangoRecordCount,
    };
}

/** Counters only (their get() reads memory); the gauges would ask the store again. */
async function readRegistry(registry: Registry): Promise<Pick<StatusSnapshot, 'counters' | 'pullDuration'>> {
    const counters: Record<string, StatusCounterValue[]> = {};
    for (const name of COUNTERS) {
        const metric = registry.getSingleMetric(name);
        if (!metric) continue;
        const { values } = await metric.get();
        counters[name] = values.map((v) => ({ labels: stringLabels(v.labels), value: v.value }));
    }
    let pullDuration: StatusSnapshot['pullDuration'] = null;
    const histogram = registry.getSingleMetric(METRIC.pullDuration);
    if (histogram) {
        const { values } = await histogram.get();
        const pick = (suffix: string) => values.find((v) => (v as { metricName?: string }).metricName === `${METRIC.pullDuration}${suffix}`)?.value ?? 0;
        pullDuration = { count: pick('_count'), sumSeconds: pick('_sum') };
    }
    return { counters, pullDuration };
}

function stringLabels(labels: Record<string, string | number | undefined>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = String(v);
    return out;
}
