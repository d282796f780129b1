import type { SyncKey } from '../sync/syncKey.js';
import type { NangoClient, RecordsPage } from './client.js';

export interface RecordPagesOptions {
    key: SyncKey;
    cursor: string | null;
    limit: number;
    signal?: AbortSignal;
}

/**
 * Every page from `cursor` to the end, in order. The next page is requested before the current
 * one is yielded, so the HTTP round trip overlaps the caller's database commit. Stops at
 * `next_cursor: null` only: a short page is not the end (Nango may cut pages by byte size).
 */
export async function* recordPages(client: NangoClient, options: RecordPagesOptions): AsyncGenerator<RecordsPage> {
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const fetchPage = (cursor: string | null) => {
        const p = client.getRecordsPage({ key: options.key, cursor, limit: options.limit, signal });
        p.catch(() => undefined); // observed by the consumer's await; avoids an unhandled rejection if it stops early
        return p;
    };
    let pending: Promise<RecordsPage> | undefined = fetchPage(options.cursor);
    try {
        while (pending) {
            const page: RecordsPage = await pending;
            pending = page.next_cursor !== null && page.records.length > 0 ? fetchPage(page.next_cursor) : undefined;
            yield page;
        }
    } finally {
        // The consumer stopped (error or shutdown): drop the prefetched page.
        controller.abort();
    }
}
