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
