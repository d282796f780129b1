import { createNangoGet, type NangoClientOptions } from './client.js';
import { NangoProtocolError } from './errors.js';

/**
 * One item of `GET /sync/status` (`ReportedSyncJobStatus`, built by `syncManager.syncStatus()` in
 * packages/shared/lib/services/sync/manager.service.ts; protocol §6.1): one (sync, variant,
 * connection). Only what reconcile reads; the SDK's own type lacks `connection_id` and `variant`.
 */
export interface SyncStatusItem {
    connection_id: string;
    name: string;
    /** `base` unless the sync is a variant. */
    variant: string;
    /** RUNNING | PAUSED | STOPPED | SUCCESS | ERROR */
    status: string;
    /** When the latest run ended (success or failure); absent while it runs, and when it never ran. */
    finishedAt?: string;
    /**
     * Live records per model of the enabled sync config: its keys are the sync's models. For a
     * variant, Nango reports the base variant's count (a TODO in Nango, §6.1).
     */
    recordCount: Record<string, number>;
    /** Per model of the latest run; absent when there is no run. */
    latestResult?: Record<string, unknown>;
}

export interface SyncStatusClient {
    /** Every (sync, variant, connection) of one integration, in one request (one rate-limit point). */
    getSyncStatus(providerConfigKey: string, signal?: AbortSignal): Promise<SyncStatusItem[]>;
}

/** `GET /sync/status?provider_config_key=<key>&syncs=*`, through the same request loop as `GET /records`. */
export function createSyncStatusClient(options: NangoClientOptions): SyncStatusClient {
    const get = createNangoGet(options);
    return {
        async getSyncStatus(providerConfigKey, signal) {
            // Only these two keys: the query is a strictObject (any other key is a 400).
            const query = new URLSearchParams({ provider_config_key: providerConfigKey, syncs: '*' });
            return parseSyncStatus(await get({ path: '/sync/status', query, reason: 'sync_status', ...(signal ? { signal } : {}) }));
        },
    };
}

export function parseSyncStatus(body: string): SyncStatusItem[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(body);
    } catch {
        throw new NangoProtocolError('GET /sync/status answered 2xx with a body that is not JSON.');
    }
    const syncs = (parsed as { syncs?: unknown } | null)?.syncs;
    if (!Array.isArray(syncs)) throw new NangoProtocolError('GET /sync/status answered 2xx without a `syncs` array.');
    return syncs.map((raw: unknown, i) => {
        const item = raw as Record<string, unknown> | null;
        if (!item || typeof item['connection_id'] !== 'string' || typeof item['name'] !== 'string' || typeof item['status'] !== 'string') {
            throw new NangoProtocolError(`GET /sync/status item ${i} lacks connection_id, name or status.`);
        }
        const finishedAt = item['finishedAt'];
        const recordCount = item['recordCount'];
        const latestResult = item['latestResult'];
        return {
            connection_id: item['connection_id'],
            name: item['name'],
            variant: typeof item['variant'] === 'string' ? item['variant'] : 'base',
            status: item['status'],
            ...(typeof finishedAt === 'string' ? { finishedAt } : {}),
            recordCount: isRecord(recordCount) ? (recordCount as Record<string, number>) : {},
            ...(isRecord(latestResult) ? { latestResult } : {}),
        };
    });
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
