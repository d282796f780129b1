import type { Registry } from 'prom-client';
import { isFailing, isPending, oldestSuccessAgeSeconds, pendingKeyCount, type KeyStatus } from '../../domain/keyState.js';
import { METRIC } from '../../metrics/createMetrics.js';
import type { KeyStates } from '../../storage/store.js';
import { describeKey } from '../../domain/syncKey.js';

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

export interface StatusSnapshot {
    generatedAt: string;
    keyCount: number;
    statusCounts: Record<string, number>;
    pendingKeys: number;
    oldestSuccessAgeSeconds: number;
    /** Failing keys first, then by key; at most `maxRows`. */
    keys: StatusKeyRow[];
    truncated: boolean;
    /** The counters of the daemon's registry, by metric name; absent when the registry has no such metric. */
    counters: Record<string, StatusCounterValue[]>;
    pullDuration: { count: number; sumSeconds: number } | null;
}

const COUNTERS = [METRIC.webhooks, METRIC.recordsWritten, METRIC.pulls, METRIC.nangoRequests, METRIC.rateLimitedSeconds, METRIC.reconcileFound] as const;

export interface SnapshotDeps {
    keys: Pick<KeyStates, 'listKeyStatus'>;
    registry: Registry;
    now?: () => number;
    /** @default 1000 */
    maxRows?: number;
}

export async function statusSnapshot(deps: SnapshotDeps): Promise<StatusSnapshot> {
    const keys = await deps.keys.listKeyStatus();
    const nowMs = (deps.now ?? Date.now)();
    const statusCounts: Record<string, number> = {};
    for (const k of keys) statusCounts[k.status] = (statusCounts[k.status] ?? 0) + 1;
    // A stable sort: the store's key order within each group.
    const sorted = [...keys].sort((a, b) => Number(isFailing(b)) - Number(isFailing(a)));
    const maxRows = deps.maxRows ?? 1000;
    return {
        generatedAt: new Date(nowMs).toISOString(),
        keyCount: keys.length,
        statusCounts,
        pendingKeys: pendingKeyCount(keys),
        oldestSuccessAgeSeconds: Math.round(oldestSuccessAgeSeconds(keys, nowMs)),
        keys: sorted.slice(0, maxRows).map((k) => toRow(k, nowMs)),
        truncated: keys.length > maxRows,
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
