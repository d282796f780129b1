import type { KeyState, KeyStatus } from '../domain/keyState.js';
import type { DeleteMode, RecordRow } from '../domain/recordRow.js';
import type { SyncKey } from '../domain/syncKey.js';
import type { ConnectionSeen } from '../domain/connectionInfo.js';
import type { ViewNamePair } from '../domain/generatedViewNames.js';
import type { GeneratedViewSpec, IndexSpec, TypedIndexSpec, ViewSpec } from '../domain/viewSpec.js';

/**
 * What the daemon keeps, split by the role each caller plays. Both engines implement every role with
 * the same behaviour (test/unit/storeContract.test.ts runs each operation on both); what one engine
 * cannot do is not offered (`writerLock` exists on SQLite only).
 */
export interface Store {
    /** Webhooks, the admin API, discovery and the CLI: what should be pulled. */
    readonly requests: PullRequests;
    /** The puller: a claimed key's pages, cursor and outcome. */
    readonly pulls: PullSessions;
    /** The scheduler, reconcile, status surfaces and waiters: reads of the keys' state. */
    readonly keys: KeyStates;
    /** Named leases shared by daemons (one reconcile pass per interval for a group). */
    readonly leases: Leases;
    /** Start-up: migrations, typed views, pulls a crash left running. */
    readonly schema: Schema;
    /** The change log (`nango_changes`): read by offset, pruned by retention, turned on or off. */
    readonly changes: ChangeLog;
    /**
     * SQLite has one writer: a daemon holds the file, a second one is refused. Postgres is shared by
     * replicas and has no such lock, so its store has no `writerLock`.
     */
    readonly writerLock?: WriterLock;
    /** Releases what the store holds (connections, the writer lock). Safe to call twice. */
    close(): Promise<void>;
}

export interface PullRequests {
    /**
     * Durably records a pull request for each key (one transaction). Revives gone keys.
     * `onCommitted` runs once the requests are committed and a pull's claim sees them: on SQLite
     * before the fsync the promise waits for (a pull can start meanwhile: the WAL reaches the disk
     * in commit order, so a crash cannot keep a pull's pages and lose the request they answer); on
     * Postgres when the commit returns, just before the promise resolves. Not called if the commit fails.
     */
    requestPulls(keys: readonly SyncKey[], at: string, onCommitted?: () => void): Promise<void>;
    /**
     * Forgets the key's cursor and requests a pull from the start, atomically: a pull that claims the
     * key concurrently either reads the reset cursor or leaves the resync pending. With `sweep`, rows
     * that full read does not write are deleted at its end.
     */
    requestResync(key: SyncKey, sweep: boolean, at: string): Promise<void>;
    /** Adds keys the store does not know yet, each with a pending request (discovery); returns how many were new. */
    seedKeys(keys: readonly SyncKey[], at: string): Promise<number>;
    /** Records a failed-sync webhook on its keys (one transaction); pulls nothing. */
    recordNangoSyncError(keys: readonly SyncKey[], error: string, at: string): Promise<void>;
    /** Stores what Nango's sync status says of each key the mirror knows (one transaction); unknown keys are skipped. */
    recordNangoSyncStatus(observed: readonly NangoKeyStatus[], at: string): Promise<void>;
    /** Marks every key of a connection gone (rows kept); returns how many. */
    markConnectionGone(providerConfigKey: string, connectionId: string, reason: string, at: string): Promise<number>;
    /**
     * Records connections Nango listed (discovery, one transaction per call: callers batch): new ones
     * are inserted, known ones get Nango's fields and `last_seen_at`, and a listed connection is not
     * deleted (`deleted_at` cleared).
     */
    upsertConnections(connections: readonly ConnectionSeen[], at: string): Promise<void>;
    /**
     * Records an `auth` webhook on its connection, in one transaction: `creation` and `override`
     * upsert it as `upsertConnections` does (reviving a deleted one); `deletion` sets `deleted_at`
     * (inserting the row if unknown) and marks every key of the connection gone, with `reason`.
     * Returns how many keys were marked gone (0 but for a deletion).
     */
    recordConnectionEvent(event: ConnectionEvent, at: string): Promise<number>;
    /** The connections the mirror knows, by integration then connection id (byte order); optionally one integration's. */
    listConnections(filter?: { providerConfigKey?: string }): Promise<ConnectionRow[]>;
    /**
     * Hard-deletes the mirrored rows (`nango_records`) and the keys (`nango_sync_state`) of every
     * connection whose `deleted_at` is before `deletedBefore`, in one transaction; the
     * `nango_connections` row stays, with its `deleted_at`. Returns what was deleted.
     */
    purgeDeletedConnections(deletedBefore: string): Promise<{ records: number; keys: number }>;
}

export type { ConnectionSeen };

export type ConnectionEvent =
    | (ConnectionSeen & { operation: 'creation' | 'override' })
    | (ConnectionSeen & { operation: 'deletion'; reason: string });

/** A row of `nango_connections`, timestamps as UTC micro ISO on both engines. */
export interface ConnectionRow extends ConnectionSeen {
    firstSeenAt: string;
    lastSeenAt: string;
    deletedAt: string | null;
}

export interface PullSessions {
    /**
     * Claims the key for this process, marks it running and runs `pull` with the session; the claim
     * is released when `pull` settles, whatever happens. Resolves `null` without running `pull` when
     * another daemon sharing the database is pulling the key right now.
     */
    withPull<T>(key: SyncKey, at: string, pull: (session: PullSession) => Promise<T>): Promise<T | null>;
}

/** A page `writePage` committed: its counts, and when it is durable. */
export interface WrittenPage {
    result: PageResult;
    durable: Promise<void>;
}

/** One claimed pull of one key. Valid only inside `withPull`'s callback. */
export interface PullSession {
    readonly key: SyncKey;
    /** The key's state when the claim was taken. */
    readonly start: PullStart;
    /**
     * Writes one page's rows and its cursor in one transaction, resolving once it has committed,
     * before it is durable: `durable` resolves once it would survive a power cut (rejects if it
     * cannot be made so). The next page may be written meanwhile; pages commit in the order they
     * are written, and a page durable makes every page written before it durable. SQLite: the
     * fsync runs on the thread pool while the next page is written. Postgres: a commit returns once
     * durable, so `durable` is already resolved.
     */
    writePage(page: PageCommit): Promise<WrittenPage>;
    /** Deletes (soft: marks deleted) the key's rows not written since `from`; returns how many. */
    sweep(from: string, deletes: DeleteMode, at: string): Promise<number>;
    finish(result: PullFinish): Promise<void>;
    /** Records the failure and keeps the request pending until `nextAttemptAt`. */
    fail(failure: PullFailure): Promise<void>;
    /** The connection is unknown to Nango: stop pulling this key until a webhook names it again. */
    markGone(reason: string, at: string): Promise<void>;
    /** A pull stopped by shutdown: keep it pending so the next start resumes it. */
    abandon(at: string): Promise<void>;
}

export interface KeyStates {
    /** One key's state, with its row counts unless `counts: false`; undefined for a key never seen. */
    getKeyStatus(key: SyncKey, options?: { counts?: boolean }): Promise<KeyStatus | undefined>;
    /**
     * Every key with its state, sorted by key. Counting rows scans the mirror; `counts: false` reads
     * only the sync state (row counts are then 0).
     */
    listKeyStatus(options?: { counts?: boolean }): Promise<KeyStatus[]>;
    /**
     * Up to `limit` keys after `after` (null: from the first) in key order, without row counts: a
     * reconcile pass reads every key a batch at a time, so no read holds the event loop for all of
     * them. Keyset paging over the primary key: a batch costs its own rows.
     */
    listKeysAfter(after: SyncKey | null, limit: number): Promise<KeyStatus[]>;
    /**
     * One page of the keys `filter` matches, in the status page's order, with row counts for the
     * page's keys only (never a count over the whole mirror), and how many keys match in all.
     * The order: failing keys first (`isFailing`, domain/keyState.ts); then keys that are not gone,
     * the one whose last success is oldest first and those that never succeeded before any (the
     * most lagging); then gone keys (left alone on purpose, so not lagging); within each, by last
     * success the same way, then by key in byte order on both engines. The order moves as keys
     * succeed, so consecutive pages read at different times may repeat or skip a key: it is for
     * people looking at the worst keys, not for exporting every key (`listKeyStatus` is).
     */
    listKeyPage(query: KeyPageQuery): Promise<KeyPage>;
    /** Counts over every key, computed by the database: what `/metrics` reports, whatever the number of keys. */
    summarizeKeys(): Promise<KeySummary>;
    /**
     * Keys with an unfinished request that are due (not gone, backoff elapsed), oldest request first
     * (never requested first), at most `limit`: read through an index, so it costs `limit` rows, not
     * every pending key. `announcedOnly`: only requests a webhook, the admin API or the CLI made
     * (while the API budget is inside its reserve), through an index of their own.
     */
    listDueKeys(now: string, limit: number, options?: { announcedOnly?: boolean }): Promise<DueKey[]>;
    /**
     * The first `limit` keys (by key) that `KeySummary.countDriftKeys` counts, with both counts: reads
     * `nango_sync_state` only (the live rows were counted when each key's last pull finished).
     */
    listCountDrift(limit: number): Promise<CountDrift[]>;
}

export type ChangeAction = 'added' | 'updated' | 'deleted' | 'swept' | 'undeleted';

/**
 * One row of `nango_changes`. Written in the transaction that changed the record, only when it
 * really changed: a new row is `added` (`deleted` if it arrives as a tombstone), a newer version
 * `updated` (a prune included), a Nango delete `deleted` (soft: `deleted_at` set by a newer
 * version; hard: the row removed by the page), a deleted row coming back `undeleted`, and rows the
 * resync sweep removes or tombstones, or the purge deletes, `swept`. Timestamps as UTC micro ISO.
 */
export interface ChangeRow extends SyncKey {
    seq: number;
    recordId: string;
    action: ChangeAction;
    /** The record's version (for a removed row, the version removed). */
    lastModifiedAt: string | null;
    committedAt: string;
}

export interface ChangeQuery {
    after: number;
    limit: number;
    providerConfigKey?: string;
    connectionId?: string;
    model?: string;
}

/**
 * The change log. Sequence numbers become visible in commit order on both engines: a reader that
 * has read up to seq N never later sees a committed change with a smaller seq appear (SQLite: one
 * writer; Postgres: a transaction-level advisory lock taken before numbers are drawn and held to
 * the commit).
 */
export interface ChangeLog {
    /**
     * Changes with seq > after, in seq order, at most limit; only changes on disk (a power cut
     * cannot take back a change a reader has seen, nor give its seq to another).
     */
    readChanges(query: ChangeQuery): Promise<ChangeRow[]>;
    /**
     * prunedThrough: highest seq removed by retention (0 if none): a reader whose offset is below
     * it has missed changes. latest: highest seq committed and on disk so far (0 if none).
     */
    changeBounds(): Promise<{ prunedThrough: number; latest: number }>;
    /** Deletes changes older than olderThan or beyond maxRows (oldest first), at most batch rows per transaction; returns rows deleted. */
    pruneChanges(options: { olderThan: string; maxRows: number; batch: number }): Promise<number>;
    /** Turns logging on or off (config changes.enabled), for this database. */
    setChangeLogEnabled(enabled: boolean): Promise<void>;
    /** A notice subscriber's stored position (`nango_mirror_notify_positions`): every change up to it was delivered; 0 if none yet. */
    notifyPosition(subscriber: string): Promise<number>;
    /** Stores the subscriber's position, one statement; never moves it back (a slower replica's late write loses). */
    advanceNotifyPosition(subscriber: string, seq: number, at: string): Promise<void>;
}

export interface Leases {
    /** Takes a named lease until `expiresAt` unless another holder has one that has not expired. */
    claimLease(name: string, holder: string, now: string, expiresAt: string): Promise<boolean>;
    /** Gives back every lease `holder` has, so a restarted daemon need not wait for them to expire. */
    releaseLeases(holder: string): Promise<void>;
}

export interface Schema {
    /** Applies pending migrations. */
    migrate(): Promise<void>;
    /** Throws unless the database answers and is migrated. */
    checkReady(): Promise<void>;
    /**
     * Creates the typed views and expression indexes the config asks for; drops those it no longer
     * names. Leaves the generated views alone, except one holding a name a config view takes (the
     * config wins). One transaction.
     */
    applyViews(views: readonly ViewSpec[], indexes: readonly IndexSpec[]): Promise<void>;
    /** The (integration, model) pairs the mirror has keys for, distinct, sorted. */
    listMirroredModels(): Promise<ViewNamePair[]>;
    /**
     * Makes the generated views (Nango's schemas) exactly `views`, with their `_all` companions and
     * the typed-column `indexes` of the views made, in one transaction that readers never see
     * half-done (each changed view is dropped and created inside it): a view whose statement and
     * record are unchanged is left alone; one no longer given is dropped; one whose name (or
     * companion's) a config view has is not made (`shadowed`). Leaves the config's views alone. On
     * Postgres, daemons applying at once take turns (a transaction-level advisory lock): the later
     * one finds the views in place and changes nothing.
     */
    applyGeneratedViews(views: readonly GeneratedViewSpec[], indexes: readonly TypedIndexSpec[]): Promise<GeneratedViewsApplied>;
    /** The generated views in place, by name, as the last apply recorded them. */
    listGeneratedViews(): Promise<GeneratedViewRecord[]>;
    /** Keys left running by a crash (no live daemon holds them) become pending again; returns how many. */
    recoverInterruptedPulls(at: string): Promise<number>;
}

export interface GeneratedViewsApplied {
    /** Views (and indexes) created or replaced, by name (a view's `_all` companion included). */
    created: string[];
    /** Generated views and indexes dropped: their model is no longer given. */
    dropped: string[];
    /** Generated views not made because a config view (`models[].view`) has the name. */
    shadowed: string[];
    /** Typed-column indexes the engine cannot build (Postgres: a `timestamptz` cast is not immutable). */
    unindexable: string[];
}

/** One generated view as the daemon recorded it (`nango_mirror_views`). */
export interface GeneratedViewRecord {
    name: string;
    /** Its companion over every row, deleted ones included. */
    allName: string;
    providerConfigKey: string;
    model: string;
    /** The model schema's fingerprint (domain/modelSchema.ts). */
    schemaVersion: string;
    /** The `GET /scripts/config` sync the schema came from, and its version (null if Nango sent none). */
    syncName: string;
    syncVersion: string | null;
    /** The GeneratedViewSpec the view was built from, as JSON text. */
    spec: string;
}

export interface WriterLock {
    /** Takes the file for this daemon, or throws naming the daemon that has it. */
    acquire(holder: string): Promise<void>;
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

/** One key as `GET /sync/status` shows it. */
export interface NangoKeyStatus {
    key: SyncKey;
    /** RUNNING | PAUSED | STOPPED | SUCCESS | ERROR */
    status: string;
    /** The mirror's timestamp form; null while the sync runs or never ran. */
    finishedAt: string | null;
    recordCount: number | null;
}

export interface KeyFilter {
    providerConfigKey?: string | undefined;
    connectionId?: string | undefined;
    /** The state as shown (`shownState`, domain/keyState.ts): `pending` includes `ok` keys with a request no pull covers yet. */
    status?: KeyState | undefined;
}

export interface KeyPageQuery {
    filter?: KeyFilter;
    /** Keys of the order skipped before the page. */
    offset: number;
    /** Keys in the page at most. */
    limit: number;
}

export interface KeyPage {
    /** Every key the filter matches, on every page. */
    total: number;
    keys: KeyStatus[];
}

export interface KeySummary {
    keys: number;
    /** Keys by their stored status (not `shownState`), every status present with 0 when no key has it. */
    byStatus: Record<KeyState, number>;
    /** Keys (gone aside) whose sync Nango last reported in ERROR. */
    nangoErrorKeys: number;
    /** Keys `isPending` (domain/keyState.ts) holds for. */
    pendingKeys: number;
    /** The earliest of each key's last success (or, never successful, its first request), gone keys aside; null with none. */
    oldestSuccessAt: string | null;
    /**
     * Base-variant keys whose live rows when their last pull finished disagree with Nango's
     * `recordCount`, where that comparison holds (the key is `ok` and not pending, its last successful
     * pull started at or after Nango's `finishedAt`, and Nango's status was read after that pull
     * finished). Variants are left out: Nango reports the base variant's count for them.
     */
    countDriftKeys: number;
}

/** A key `KeySummary.countDriftKeys` counts. */
export interface CountDrift extends SyncKey {
    /** The key's live rows (pruned ones included) when its last pull finished. */
    liveRowsAtFinish: number;
    /** Nango's `recordCount` for the model at the last reconcile pass. */
    nangoRecordCount: number;
}

export interface DueKey extends SyncKey {
    requestSeq: number;
    /** When the last pull request was stored. */
    requestedAt: string | null;
    /** A webhook, the admin API or the CLI asked for it (not discovery nor a background pull's retry). */
    announced: boolean;
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
