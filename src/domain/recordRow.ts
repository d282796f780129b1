/** One Nango record, ready to write. Built by `toRecordRows`, engine-neutral. */
export interface RecordRow {
    id: string;
    /**
     * The record as JSON without `_nango_metadata`; on insert also the tombstone/pruned stand-in.
     * As text, or as its UTF-8 bytes (a view of the page's body, as the page worker hands it over).
     */
    data: string | Uint8Array;
    /** Keep the stored payload on update (pruned rows, and deletes that carry only the id). */
    keepData: boolean;
    lastAction: 'ADDED' | 'UPDATED' | 'DELETED';
    deletedAt: string | null;
    prunedAt: string | null;
    firstSeenAt: string;
    lastModifiedAt: string;
    cursor: string;
}

/** `sync.deletes`: `soft` keeps deleted rows with `deleted_at` set; `hard` deletes them. */
export type DeleteMode = 'soft' | 'hard';

/** A row's payload as text (the Postgres driver binds text; SQLite takes the bytes as they are). */
export function recordDataText(data: string | Uint8Array): string {
    return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}
