import type { RecordRow } from '../domain/recordRow.js';
import type { SyncKey } from '../domain/syncKey.js';

/**
 * One `GET /records` page, already turned into rows; or several that were waiting together, as one
 * (their rows in order, the last one's `nextCursor`): written in one transaction, with that cursor.
 */
export interface RowPage {
    rows: RecordRow[];
    nextCursor: string | null;
    /** How many of Nango's pages these rows are (1 when absent). */
    pages?: number;
}

/** Where pages come from: the page worker in the daemon (fetch + parse off the main thread). */
export interface PageSource {
    /**
     * Every page from `cursor` to the end, in order. Stops after the page whose `nextCursor` is null
     * (a short page is not the end: Nango may cut pages by byte size) or an empty page. Pages are
     * fetched ahead while the caller commits, a bounded number at a time. `reason` (why the pull
     * runs) labels the requests in the metrics.
     */
    pages(key: SyncKey, cursor: string | null, limit: number, signal?: AbortSignal, reason?: string): AsyncIterable<RowPage>;
    /** True while what serves pages (the worker thread) is running: from the first pull until it has been idle a while. */
    readonly running: boolean;
    close(): Promise<void>;
}
