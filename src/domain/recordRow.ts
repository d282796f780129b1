/** One Nango record, ready to write. Built by `toRecordRows`, engine-neutral. */
export interface RecordRow {
    id: string;
    /** The record as JSON without `_nango_metadata`; on insert also the tombstone/pruned stand-in. */
    data: string;
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
