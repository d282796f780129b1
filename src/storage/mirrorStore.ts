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

export type ViewColumnType = 'text' | 'integer' | 'real' | 'boolean' | 'timestamp' | 'json';

/** A typed view over one model's live records; names and paths are validated identifiers. */
export interface ViewSpec {
    name: string;
    providerConfigKey: string;
    model: string;
    variant?: string | undefined;
    columns: Array<{ name: string; path: string[]; type: ViewColumnType }>;
}

/** An expression index on one JSON path of one model's records. */
export interface IndexSpec {
    name: string;
    providerConfigKey: string;
    model: string;
    path: string[];
}

export interface PageCommit {
    rows: RecordRow[];
    /** The page's last record cursor: stored in the same transaction as the rows. */
    cursor: string;
    deletes: DeleteMode;
    syncedAt: string;
    /** When this pull started: if a resync was asked for since, the page's rows land but the cursor stays reset. */
    pullStartedAt: string;
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
    /** When a resync was last asked for and not yet completed; null otherwise. */
    resyncFrom: string | null;
    /** That resync wants rows the full read does not write deleted at its end. */
    resyncSweep: boolean;
}

/** One key as `nango-mirror status`, the admin API and the status page show it. */
export interface KeyStatus {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
    status: string;
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
    recordsPulledTotal: number;
    /** Rows in the mirror, live and deleted. */
    liveRows: number;
    deletedRows: number;
}

export interface DueKey extends SyncKey {
    requestSeq: number;
    /** When the last pull request was stored. */
    requestedAt: string | null;
}

export interface PullFinish {
    requestSeq: number;
    /** When the pull started: a resync asked for before it is complete once it finishes. */
    startedAt: string;
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
    /**
     * Registers this daemon. SQLite has one writer: a second daemon on the same file is refused
     * with a message saying so. Postgres is shared by replicas, so this does nothing there.
     */
    lockForDaemon(holder: string): Promise<void>;
    /** Throws unless the database answers and is migrated. */
    checkReady(): Promise<void>;
    /** Durably records a pull request for each key (one transaction). Revives gone keys. */
    requestPulls(keys: SyncKey[], at: string): Promise<void>;
    /** Records a failed-sync webhook on its keys; pulls nothing. */
    recordNangoSyncError(keys: SyncKey[], error: string, at: string): Promise<void>;
    /** Marks every key of a connection gone (rows kept); returns how many. */
    markConnectionGone(providerConfigKey: string, connectionId: string, reason: string, at: string): Promise<number>;
    /** Keys with an unfinished request that are due (not gone, backoff elapsed), oldest request first. */
    listDueKeys(now: string): Promise<DueKey[]>;
    /** Every key that is not gone, for the reconcile pass. */
    listActiveKeys(): Promise<SyncKey[]>;
    /**
     * Every key (or just `only`) with its state and row counts, sorted by key. Counting rows scans
     * the mirror; `counts: false` reads only the sync state (row counts are then 0).
     */
    listKeyStatus(only?: SyncKey, options?: { counts?: boolean }): Promise<KeyStatus[]>;
    /** Adds keys the store does not know yet, each with a pending request (discovery); returns how many were new. */
    seedKeys(keys: SyncKey[], at: string): Promise<number>;
    /** Forgets the key's cursor and requests a pull from the start; with `sweep`, rows that full read does not write are deleted at its end. */
    requestResync(key: SyncKey, sweep: boolean, at: string): Promise<void>;
    /** Deletes (soft: marks deleted) the key's rows not written since `from`; returns how many. */
    sweep(key: SyncKey, from: string, deletes: DeleteMode, at: string): Promise<number>;
    /** Postgres: `NOTIFY channel, payload`. SQLite has no such thing and throws. */
    notifyChannel(channel: string, payload: string): Promise<void>;
    /**
     * Claims the key for this process and marks it running; returns its cursor, or null when
     * another daemon sharing the database is pulling it right now. Every claim is released by
     * `releasePull`, whatever happens in between.
     */
    startPull(key: SyncKey, at: string): Promise<PullStart | null>;
    releasePull(key: SyncKey): Promise<void>;
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
    /**
     * Takes a named lease until `expiresAt` unless another holder has one that has not expired.
     * One reconcile pass per interval for a group of daemons, and SQLite's single-writer guard.
     */
    claimLease(name: string, holder: string, now: string, expiresAt: string): Promise<boolean>;
    /** Gives back every lease `holder` has, so a restarted daemon need not wait for them to expire. */
    releaseLeases(holder: string): Promise<void>;
    /** Creates the typed views and expression indexes the config asks for; drops those it no longer names. */
    applyViews(views: readonly ViewSpec[], indexes: readonly IndexSpec[]): Promise<void>;
    close(): Promise<void>;
}
