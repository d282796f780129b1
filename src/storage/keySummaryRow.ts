import type { KeySummary } from './store.js';

/** The summary as both engines' aggregate answers it: one column per stored status. */
export interface KeySummaryRow extends Omit<KeySummary, 'byStatus'> {
    statusPending: number;
    statusRunning: number;
    statusOk: number;
    statusFailed: number;
    statusGone: number;
}

export function toKeySummary({ statusPending, statusRunning, statusOk, statusFailed, statusGone, ...rest }: KeySummaryRow): KeySummary {
    return { ...rest, byStatus: { pending: statusPending, running: statusRunning, ok: statusOk, failed: statusFailed, gone: statusGone } };
}

/** The summary of several disjoint sets of keys, from each one's (counts add up; the oldest is the least). */
export function mergeKeySummaryRows(rows: readonly KeySummaryRow[]): KeySummaryRow {
    const merged: KeySummaryRow = { keys: 0, statusPending: 0, statusRunning: 0, statusOk: 0, statusFailed: 0, statusGone: 0, pendingKeys: 0, nangoErrorKeys: 0, oldestSuccessAt: null, countDriftKeys: 0 };
    for (const r of rows) {
        merged.keys += r.keys;
        merged.statusPending += r.statusPending;
        merged.statusRunning += r.statusRunning;
        merged.statusOk += r.statusOk;
        merged.statusFailed += r.statusFailed;
        merged.statusGone += r.statusGone;
        merged.pendingKeys += r.pendingKeys;
        merged.nangoErrorKeys += r.nangoErrorKeys;
        merged.countDriftKeys += r.countDriftKeys;
        if (r.oldestSuccessAt !== null && (merged.oldestSuccessAt === null || r.oldestSuccessAt < merged.oldestSuccessAt)) merged.oldestSuccessAt = r.oldestSuccessAt;
    }
    return merged;
}
