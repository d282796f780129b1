import type { SyncKey } from '../sync/syncKey.js';

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

export type DeleteMode = 'soft' | 'hard';

export interface PageCommit {
    rows: RecordRow[];
    /** The page's last record cursor: stored in the same transaction as the rows. */
    cursor: string;
    deletes: DeleteMode;
    syncedAt: string;
}

export interface PageResult {
    upserted: number;
    deleted: number;
    /** Rows skipped because the mirror already had a newer version. */
    skipped: number;
}

export interface PullStart {
    cursor: string | null;
    /** The request seq this pull covers once it finishes. */
    requestSeq: number;
    /** Failed pulls since the last success, for the retry backoff. */
    consecutiveFailures: number;
}

export interface PullFinish {
    requestSeq: number;
    records: number;
    pages: number;
    at: string;
}

export interface PullFailure {
    error: string;
    code: string;
    at: string;
    nextAttemptAt: string;
}

/**
 * Everything the daemon keeps, behind one seam with one implementation per engine.
 * Storage knows nothing of concurrency: the scheduler decides who pulls what.
 */
export interface MirrorStore {
    readonly engine: 'sqlite' | 'postgres';
    /** Applies pending migrations. */
    migrate(): Promise<void>;
    /** Throws unless the database answers and is migrated. */
    checkReady(): Promise<void>;
    /** Durably records a pull request for each key (one transaction). Revives gone keys. */
    requestPulls(keys: SyncKey[], at: string): Promise<void>;
    /** Records a failed-sync webhook on its keys; pulls nothing. */
    recordNangoSyncError(keys: SyncKey[], error: string, at: string): Promise<void>;
    /** Marks every key of a connection gone (rows kept); returns how many. */
    markConnectionGone(providerConfigKey: string, connectionId: string, reason: string, at: string): Promise<number>;
    /** Keys with an unfinished request that are due (not gone, backoff elapsed). */
    listDueKeys(now: string): Promise<Array<SyncKey & { requestSeq: number }>>;
    /** Every key that is not gone, for the reconcile pass. */
    listActiveKeys(): Promise<SyncKey[]>;
    /** Marks the key running and returns its cursor. */
    startPull(key: SyncKey, at: string): Promise<PullStart>;
    /** Writes one page's rows and its cursor in one transaction. */
    commitPage(key: SyncKey, page: PageCommit): Promise<PageResult>;
    finishPull(key: SyncKey, result: PullFinish): Promise<void>;
    failPull(key: SyncKey, failure: PullFailure): Promise<void>;
    /** The connection is unknown to Nango: stop pulling this key until a webhook names it again. */
    markKeyGone(key: SyncKey, reason: string, at: string): Promise<void>;
    /** A pull stopped by shutdown: keep it pending so the next start resumes it. */
    abandonPull(key: SyncKey, at: string): Promise<void>;
    /** Keys left running by a crash become pending again, so a restart resumes them. */
    recoverInterruptedPulls(at: string): Promise<number>;
    close(): Promise<void>;
}
