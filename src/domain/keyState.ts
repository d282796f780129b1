import type { SyncKey } from './syncKey.js';

/**
 * A key's state as stored: `pending` (a request waits for a pull), `running` (a daemon is pulling it),
 * `ok` (the last pull succeeded), `failed` (the last pull failed; retried after a backoff), `gone`
 * (Nango deleted or does not know the connection; left alone until a webhook names it again).
 */
export type KeyState = 'pending' | 'running' | 'ok' | 'failed' | 'gone';

export const KEY_STATES: readonly KeyState[] = ['pending', 'running', 'ok', 'failed', 'gone'];

/** One key as `nango-mirror status`, the admin API and the status page show it. */
export interface KeyStatus extends SyncKey {
    status: KeyState;
    cursor: string | null;
    requestSeq: number;
    doneSeq: number;
    pullRequestedAt: string | null;
    pullStartedAt: string | null;
    lastSuccessAt: string | null;
    nextAttemptAt: string | null;
    lastError: string | null;
    lastErrorCode: string | null;
    consecutiveFailures: number;
    nangoSyncError: string | null;
    /** Nango's sync status at the last reconcile pass (RUNNING, PAUSED, STOPPED, SUCCESS, ERROR); null before one read it. */
    nangoSyncStatus: string | null;
    /** When Nango's latest run of the key's sync finished, as of that pass. */
    nangoFinishedAt: string | null;
    /** Nango's live record count for the model (a variant reports its base's), as of that pass. */
    nangoRecordCount: number | null;
    /**
     * The key's live rows (pruned ones included) when its last pull finished; counted only for a base
     * variant Nango had reported a count for by then, else null. Compared with `nangoRecordCount` by the
     * count-drift gauge (KeySummary.countDriftKeys in storage/store.ts).
     */
    liveRowsAtFinish: number | null;
    /** When a reconcile pass last stored Nango's view of the key; null before the first. */
    nangoStatusAt: string | null;
    recordsPulledTotal: number;
    /** Rows in the mirror, live and deleted (0 when read without counts). */
    liveRows: number;
    deletedRows: number;
}

type StateOf = Pick<KeyStatus, 'status' | 'requestSeq' | 'doneSeq'>;

/** A request no finished pull covers yet; gone keys aside (failed keys waiting to retry count). */
export function isPending(k: StateOf): boolean {
    return k.status !== 'gone' && k.requestSeq > k.doneSeq;
}

/** The last pull failed, or the key has failed since its last success. */
export function isFailing(k: Pick<KeyStatus, 'status' | 'consecutiveFailures'>): boolean {
    return k.status === 'failed' || k.consecutiveFailures > 0;
}

/** What people are shown: an `ok` key with a request no pull covers yet (`isPending`) is `pending`. */
export function shownState(status: KeyState, pending: boolean): KeyState {
    return status === 'ok' && pending ? 'pending' : status;
}

export function pendingKeyCount(keys: readonly StateOf[]): number {
    let n = 0;
    for (const k of keys) if (isPending(k)) n++;
    return n;
}

/**
 * Seconds since the least recently successful key that is not gone last succeeded; a key that never
 * succeeded counts from when its first pull was requested. 0 with no such key.
 */
export function oldestSuccessAgeSeconds(keys: readonly Pick<KeyStatus, 'status' | 'lastSuccessAt' | 'pullRequestedAt'>[], nowMs: number): number {
    let oldest: string | null = null;
    for (const k of keys) {
        if (k.status === 'gone') continue;
        const since = k.lastSuccessAt ?? k.pullRequestedAt;
        // The mirror's timestamps order as text.
        if (since !== null && (oldest === null || since < oldest)) oldest = since;
    }
    return ageSeconds(oldest, nowMs);
}

/** Seconds from `since` to `nowMs`, never negative; 0 without a time. */
export function ageSeconds(since: string | null, nowMs: number): number {
    const ms = since === null ? NaN : Date.parse(since);
    return Number.isNaN(ms) ? 0 : Math.max(0, (nowMs - ms) / 1000);
}
