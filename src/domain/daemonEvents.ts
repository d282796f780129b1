import { EventEmitter } from 'node:events';
import type { SyncKey } from './syncKey.js';

/** What the daemon reports as it works; metrics, notifications and the status page listen. */
export interface DaemonEventMap {
    /** Every webhook answer. `type` is Nango's webhook type, `other` for forwarded payloads, `unknown` before the body is trusted. */
    webhook: [{ type: string; outcome: string }];
    /**
     * Every answer from Nango's API (`network_error` when there was none), with why it was asked:
     * a pull's reason (`webhook`, `admin`, `pending`, `seeded`, `reconcile`), `discovery` or `sync_status`.
     */
    nangoResponse: [{ status: number | 'network_error'; reason: string }];
    rateLimited: [{ waitMs: number }];
    /** After each page's transaction committed and is durable. */
    pageCommitted: [{ key: SyncKey; upserted: number; deleted: number; skipped: number; cursor: string; committedAt: string }];
    pullFinished: [{ key: SyncKey; outcome: string; records: number; pages: number; durationMs: number }];
    reconcilePass: [{ keys: number; found: number }];
    /** `GET /sync/status` failed for an integration: a pass falls back to pulling its keys one by one. */
    syncStatusUnavailable: [{ providerConfigKey: string }];
}

export type DaemonEvents = EventEmitter<DaemonEventMap>;

export function createDaemonEvents(): DaemonEvents {
    const events = new EventEmitter<DaemonEventMap>();
    // Listeners are few and fixed (metrics, notifier); a leak warning would only be noise.
    events.setMaxListeners(50);
    return events;
}
