import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The mirror: one row per Nango record and key. Public API — the app queries it with plain SQL,
 * so names only ever get added. Timestamps are UTC ISO-8601 text with exactly six fraction digits
 * (`2026-11-22T10:00:00.123456Z`) so they sort and compare as text without losing Nango's microseconds.
 */
export const nangoRecords = sqliteTable(
    'nango_records',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull().default('base'),
        /** The record's external id, always text: Nango returns `5` as `"5"`. */
        id: text('id').notNull(),
        /** The record as JSON, without `_nango_metadata`. */
        data: text('data').notNull(),
        lastAction: text('last_action').notNull(),
        deletedAt: text('deleted_at'),
        prunedAt: text('pruned_at'),
        firstSeenAt: text('first_seen_at').notNull(),
        lastModifiedAt: text('last_modified_at').notNull(),
        /** The record's own Nango cursor. */
        cursor: text('cursor').notNull(),
        /** When the mirror last wrote this row. */
        syncedAt: text('synced_at').notNull(),
    },
    (t) => [primaryKey({ columns: [t.providerConfigKey, t.connectionId, t.model, t.variant, t.id] })],
);

/** One row per (provider_config_key, connection_id, model, variant): the pull's cursor and health. */
export const nangoSyncState = sqliteTable(
    'nango_sync_state',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull().default('base'),
        /** The last committed cursor; null means "from the beginning". */
        cursor: text('cursor'),
        /** pending | running | ok | failed | gone */
        status: text('status').notNull().default('pending'),
        /** Bumped by every pull request; a pull that started at seq N covers every request up to N. */
        requestSeq: integer('request_seq').notNull().default(0),
        /** The highest request seq covered by a finished pull; pending while request_seq > done_seq. */
        doneSeq: integer('done_seq').notNull().default(0),
        /** The request seq of the last request a webhook, the admin API or the CLI made; announced while > done_seq (such pulls may spend the API budget's reserve). */
        announcedSeq: integer('announced_seq').notNull().default(0),
        pullRequestedAt: text('pull_requested_at'),
        pullStartedAt: text('pull_started_at'),
        lastSuccessAt: text('last_success_at'),
        /** When a failed key may be tried again (backoff). */
        nextAttemptAt: text('next_attempt_at'),
        lastError: text('last_error'),
        lastErrorCode: text('last_error_code'),
        consecutiveFailures: integer('consecutive_failures').notNull().default(0),
        /** The last failed-sync webhook Nango sent for this key (Nango's failure, not ours). */
        nangoSyncError: text('nango_sync_error'),
        nangoSyncErrorAt: text('nango_sync_error_at'),
        goneAt: text('gone_at'),
        /** Nango's view at the last reconcile pass (`GET /sync/status`): RUNNING, PAUSED, STOPPED, SUCCESS or ERROR. */
        nangoSyncStatus: text('nango_sync_status'),
        /** When Nango's latest run of the key's sync finished; null while it runs or never ran. */
        nangoFinishedAt: text('nango_finished_at'),
        /** Nango's `recordCount` for the model: live records, pruned ones included; a variant reports its base's. */
        nangoRecordCount: integer('nango_record_count'),
        /** When a reconcile pass last wrote Nango's view of the key (it writes only what changed, and keys pulled since). */
        nangoStatusAt: text('nango_status_at'),
        /** Live rows of the key when its last pull finished, counted only for base variants Nango reported a count for (the count-drift gauge). */
        liveRowsAtFinish: integer('live_rows_at_finish'),
        /** When a resync was asked for: pulls that started earlier no longer move the cursor. */
        resyncFrom: text('resync_from'),
        /** With the resync: once the full read ends, rows it did not write are deleted. */
        resyncSweep: integer('resync_sweep', { mode: 'boolean' }).notNull().default(false),
        /** Records written by all pulls of this key, and by the last finished pull. */
        recordsPulledTotal: integer('records_pulled_total').notNull().default(0),
        lastPullRecords: integer('last_pull_records').notNull().default(0),
        lastPullPages: integer('last_pull_pages').notNull().default(0),
        createdAt: text('created_at')
            .notNull()
            .default(sql`(strftime('%Y-%m-%dT%H:%M:%f','now') || '000Z')`),
        updatedAt: text('updated_at')
            .notNull()
            .default(sql`(strftime('%Y-%m-%dT%H:%M:%f','now') || '000Z')`),
    },
    (t) => [
        primaryKey({ columns: [t.providerConfigKey, t.connectionId, t.model, t.variant] }),
        // The due requests, oldest first: the scheduler reads only as many as it can start, so
        // draining a backlog costs the same per key at any size (the condition is listDueKeys').
        index('nango_sync_state_due').on(t.pullRequestedAt).where(sql`request_seq > done_seq AND status <> 'gone'`),
        index('nango_sync_state_announced_due').on(t.pullRequestedAt).where(sql`announced_seq > done_seq AND status <> 'gone'`),
        // The status page's order (listKeyPage: failing, then by last success, gone keys last, then
        // by key): a page walks the index, so it costs its offset plus its length in entries, not a
        // sort of every key. The expressions are the ORDER BY's, as SQLite matches them.
        index('nango_sync_state_page').on(
            sql`(status = 'failed' OR consecutive_failures > 0) DESC`,
            sql`(status = 'gone')`,
            t.lastSuccessAt,
            t.providerConfigKey,
            t.connectionId,
            t.model,
            t.variant,
        ),
    ],
);

export type SyncStateRow = typeof nangoSyncState.$inferSelect;

/** Named leases: the single-writer guard on a SQLite file, and one reconcile pass per interval. */
export const nangoMirrorLeases = sqliteTable('nango_mirror_leases', {
    name: text('name').primaryKey(),
    holder: text('holder').notNull(),
    expiresAt: text('expires_at').notNull(),
});

/** Views and indexes the daemon created (from `models[]` and from Nango's schemas), so it can drop the ones no longer wanted. */
export const nangoMirrorViews = sqliteTable('nango_mirror_views', {
    name: text('name').primaryKey(),
    /** `view`, `index` (from the config), `generated_view`, `generated_all`, `generated_index` (from Nango's schemas). */
    kind: text('kind').notNull(),
    definition: text('definition').notNull(),
    /** Generated relations only: the (integration, model) they read. */
    providerConfigKey: text('provider_config_key'),
    model: text('model'),
    /** Generated views only: the model schema's fingerprint (modelSchema.ts) and the sync it came from. */
    schemaVersion: text('schema_version'),
    syncName: text('sync_name'),
    syncVersion: text('sync_version'),
    /** Generated views only: the GeneratedViewSpec as JSON text (text, not jsonb: key order kept). */
    spec: text('spec'),
});

/**
 * One row per Nango connection the mirror has seen: from discovery (`GET /connections`) and from
 * `auth` webhooks (creation, override, deletion). Public API: names only ever get added.
 */
export const nangoConnections = sqliteTable(
    'nango_connections',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        /** The provider behind the integration, e.g. `hubspot`; null until Nango said. */
        provider: text('provider'),
        /** Nango's connection tags as JSON text (keys lowercase), null until Nango sent them. */
        tags: text('tags'),
        /** The connect session's end user and organization, when the connection came from one. */
        endUserId: text('end_user_id'),
        organizationId: text('organization_id'),
        /** When Nango created the connection (`created` in `GET /connections`); null until listed. */
        createdAt: text('created_at'),
        firstSeenAt: text('first_seen_at').notNull(),
        lastSeenAt: text('last_seen_at').notNull(),
        /** When a deletion webhook said Nango deleted it; cleared when the connection shows up again. */
        deletedAt: text('deleted_at'),
    },
    (t) => [primaryKey({ columns: [t.providerConfigKey, t.connectionId] })],
);

/**
 * The change log: one row per real change to a `nango_records` row, written in the transaction
 * that made it (a page, a resync sweep, a purge). `seq` is AUTOINCREMENT so a number is never
 * reused, even once retention deleted the rows above it. Public API: names only ever get added.
 */
export const nangoChanges = sqliteTable(
    'nango_changes',
    {
        seq: integer('seq').primaryKey({ autoIncrement: true }),
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull(),
        recordId: text('record_id').notNull(),
        /** added | updated | deleted | swept | undeleted */
        action: text('action').notNull(),
        /** The record's `last_modified_at` (for a removed row, the version removed). */
        lastModifiedAt: text('last_modified_at'),
        committedAt: text('committed_at').notNull(),
    },
    // A reader following one key (integration, connection, model) seeks to its next change by seq.
    (t) => [index('nango_changes_key_seq').on(t.providerConfigKey, t.connectionId, t.model, t.seq)],
);

/**
 * The change log's one row of settings (id 1): `enabled` (config `changes.enabled`), the action
 * the statement being run wants logged (`swept`, set and reset inside the sweep's and the purge's
 * transactions; null otherwise) and the highest seq retention has deleted.
 */
export const nangoMirrorChangeLog = sqliteTable('nango_mirror_change_log', {
    id: integer('id').primaryKey(),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    actionOverride: text('action_override'),
    prunedThrough: integer('pruned_through').notNull().default(0),
});

/**
 * Where each `notify.url` subscriber's delivery stands in the change log: every change up to `seq`
 * was delivered (a 2xx). `subscriber` is a stable id of the URL (notify/subscriber.ts).
 */
export const nangoMirrorNotifyPositions = sqliteTable('nango_mirror_notify_positions', {
    subscriber: text('subscriber').primaryKey(),
    seq: integer('seq').notNull().default(0),
    updatedAt: text('updated_at').notNull(),
});
