import { sql } from 'drizzle-orm';
import { index, bigint, boolean, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

// The same public tables and columns as on SQLite, with Postgres types. Tables are created in
// `database.schema` (the migrations run with that search_path), so no schema is named here.
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 6, mode: 'string' });

export const nangoRecords = pgTable(
    'nango_records',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull().default('base'),
        id: text('id').notNull(),
        data: jsonb('data').notNull(),
        lastAction: text('last_action').notNull(),
        deletedAt: ts('deleted_at'),
        prunedAt: ts('pruned_at'),
        firstSeenAt: ts('first_seen_at').notNull(),
        lastModifiedAt: ts('last_modified_at').notNull(),
        cursor: text('cursor').notNull(),
        syncedAt: ts('synced_at').notNull(),
    },
    (t) => [primaryKey({ columns: [t.providerConfigKey, t.connectionId, t.model, t.variant, t.id] })],
);

export const nangoSyncState = pgTable(
    'nango_sync_state',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull().default('base'),
        cursor: text('cursor'),
        status: text('status').notNull().default('pending'),
        requestSeq: bigint('request_seq', { mode: 'number' }).notNull().default(0),
        doneSeq: bigint('done_seq', { mode: 'number' }).notNull().default(0),
        /** The request seq of the last request a webhook, the admin API or the CLI made; announced while > done_seq (such pulls may spend the API budget's reserve). */
        announcedSeq: bigint('announced_seq', { mode: 'number' }).notNull().default(0),
        pullRequestedAt: ts('pull_requested_at'),
        pullStartedAt: ts('pull_started_at'),
        lastSuccessAt: ts('last_success_at'),
        nextAttemptAt: ts('next_attempt_at'),
        lastError: text('last_error'),
        lastErrorCode: text('last_error_code'),
        consecutiveFailures: integer('consecutive_failures').notNull().default(0),
        nangoSyncError: text('nango_sync_error'),
        nangoSyncErrorAt: ts('nango_sync_error_at'),
        goneAt: ts('gone_at'),
        /** Nango's view at the last reconcile pass (`GET /sync/status`): RUNNING, PAUSED, STOPPED, SUCCESS or ERROR. */
        nangoSyncStatus: text('nango_sync_status'),
        /** When Nango's latest run of the key's sync finished; null while it runs or never ran. */
        nangoFinishedAt: ts('nango_finished_at'),
        /** Nango's `recordCount` for the model: live records, pruned ones included; a variant reports its base's. */
        nangoRecordCount: bigint('nango_record_count', { mode: 'number' }),
        /** When a reconcile pass last wrote Nango's view of the key (it writes only what changed, and keys pulled since). */
        nangoStatusAt: ts('nango_status_at'),
        /** Live rows of the key when its last pull finished, counted only for base variants Nango reported a count for (the count-drift gauge). */
        liveRowsAtFinish: bigint('live_rows_at_finish', { mode: 'number' }),
        /** When a resync was asked for: pulls that started earlier no longer move the cursor. */
        resyncFrom: ts('resync_from'),
        /** With the resync: once the full read ends, rows it did not write are deleted. */
        resyncSweep: boolean('resync_sweep').notNull().default(false),
        recordsPulledTotal: bigint('records_pulled_total', { mode: 'number' }).notNull().default(0),
        lastPullRecords: integer('last_pull_records').notNull().default(0),
        lastPullPages: integer('last_pull_pages').notNull().default(0),
        createdAt: ts('created_at').notNull().default(sql`now()`),
        updatedAt: ts('updated_at').notNull().default(sql`now()`),
    },
    (t) => [
        primaryKey({ columns: [t.providerConfigKey, t.connectionId, t.model, t.variant] }),
        // The due requests, oldest first: the scheduler reads only as many as it can start, so
        // draining a backlog costs the same per key at any size (the condition is listDueKeys').
        index('nango_sync_state_due').on(t.pullRequestedAt.asc().nullsFirst()).where(sql`request_seq > done_seq AND status <> 'gone'`),
        index('nango_sync_state_announced_due').on(t.pullRequestedAt.asc().nullsFirst()).where(sql`announced_seq > done_seq AND status <> 'gone'`),
        // The status page's order (listKeyPage: failing, then by last success, gone keys last, then
        // by key in byte order): a page walks the index, so it costs its offset plus its length in
        // entries, not a sort of every key. The expressions are the ORDER BY's, as Postgres matches them.
        index('nango_sync_state_page').on(
            sql`(status = 'failed' OR consecutive_failures > 0) DESC`,
            sql`(status = 'gone')`,
            t.lastSuccessAt.asc().nullsFirst(),
            sql`provider_config_key COLLATE "C"`,
            sql`connection_id COLLATE "C"`,
            sql`model COLLATE "C"`,
            sql`variant COLLATE "C"`,
        ),
    ],
);

export const nangoMirrorLeases = pgTable('nango_mirror_leases', {
    name: text('name').primaryKey(),
    holder: text('holder').notNull(),
    expiresAt: ts('expires_at').notNull(),
});

export const nangoMirrorViews = pgTable('nango_mirror_views', {
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

export const nangoConnections = pgTable(
    'nango_connections',
    {
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        provider: text('provider'),
        tags: jsonb('tags'),
        endUserId: text('end_user_id'),
        organizationId: text('organization_id'),
        createdAt: ts('created_at'),
        firstSeenAt: ts('first_seen_at').notNull(),
        lastSeenAt: ts('last_seen_at').notNull(),
        deletedAt: ts('deleted_at'),
    },
    (t) => [primaryKey({ columns: [t.providerConfigKey, t.connectionId] })],
);

/** The change log (see the SQLite table's comments); `seq` an identity, never reused. */
export const nangoChanges = pgTable(
    'nango_changes',
    {
        seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
        providerConfigKey: text('provider_config_key').notNull(),
        connectionId: text('connection_id').notNull(),
        model: text('model').notNull(),
        variant: text('variant').notNull(),
        recordId: text('record_id').notNull(),
        action: text('action').notNull(),
        lastModifiedAt: ts('last_modified_at'),
        committedAt: ts('committed_at').notNull(),
    },
    (t) => [index('nango_changes_key_seq').on(t.providerConfigKey, t.connectionId, t.model, t.seq)],
);

/** The change log's settings row (id 1): `enabled` and the retention watermark. On Postgres the
 * action override is a transaction-local setting (`nango_mirror.change_action`), not a column. */
export const nangoMirrorChangeLog = pgTable('nango_mirror_change_log', {
    id: integer('id').primaryKey(),
    enabled: boolean('enabled').notNull().default(true),
    prunedThrough: bigint('pruned_through', { mode: 'number' }).notNull().default(0),
});

/**
 * Where each `notify.url` subscriber's delivery stands in the change log: every change up to `seq`
 * was delivered (a 2xx). `subscriber` is a stable id of the URL (notify/subscriber.ts).
 */
export const nangoMirrorNotifyPositions = pgTable('nango_mirror_notify_positions', {
    subscriber: text('subscriber').primaryKey(),
    seq: bigint('seq', { mode: 'number' }).notNull().default(0),
    updatedAt: ts('updated_at').notNull(),
});
