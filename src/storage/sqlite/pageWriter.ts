import type { SyncKey } from '../../domain/syncKey.js';
import type { PageCommit, PageResult } from '../store.js';
import type { SqliteConnection } from './connection.js';

/**
 * The hot path: one page of records and its cursor in one transaction, through prepared
 * statements (drizzle's builder would rebuild the SQL per row; this runs at database speed).
 */
export type PageWriter = (key: SyncKey, page: PageCommit) => PageResult;

// `>=`: a re-read of the same version is idempotent, and a prune (which keeps last_modified_at)
// still lands; only an older version is refused.
const UPSERT = `
INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
    deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
    data = CASE WHEN ? THEN nango_records.data ELSE excluded.data END,
    last_action = excluded.last_action,
    deleted_at = excluded.deleted_at,
    pruned_at = excluded.pruned_at,
    first_seen_at = excluded.first_seen_at,
    last_modified_at = excluded.last_modified_at,
    cursor = excluded.cursor,
    synced_at = excluded.synced_at
WHERE excluded.last_modified_at >= nango_records.last_modified_at`;

const HARD_DELETE = `
DELETE FROM nango_records
WHERE provider_config_key = @pck AND connection_id = @conn AND model = @model AND variant = @variant
  AND id = @id AND last_modified_at <= @lastModifiedAt`;

const ADVANCE_CURSOR = `
UPDATE nango_sync_state
SET cursor = CASE WHEN resync_from > @pullStartedAt THEN cursor ELSE @cursor END,
    records_pulled_total = records_pulled_total + @count, updated_at = @syncedAt
WHERE provider_config_key = @pck AND connection_id = @conn AND model = @model AND variant = @variant`;

/** Prepares the page statements: call once the tables exist. */
export function createPageWriter(conn: SqliteConnection): PageWriter {
    const { db } = conn;
    const upsert = db.prepare(UPSERT);
    const hardDelete = db.prepare(HARD_DELETE);
    const advanceCursor = db.prepare(ADVANCE_CURSOR);

    return db.transaction((key: SyncKey, page: PageCommit): PageResult => {
        const base = { pck: key.providerConfigKey, conn: key.connectionId, model: key.model, variant: key.variant };
        const result: PageResult = { upserted: 0, deleted: 0, skipped: 0 };
        for (const row of page.rows) {
            if (page.deletes === 'hard' && row.lastAction === 'DELETED') {
                result.deleted += hardDelete.run({ ...base, id: row.id, lastModifiedAt: row.lastModifiedAt }).changes;
                continue;
            }
            // Positional, in the statement's order (the 14th is keepData): named parameters cost
            // about 3 µs a row more in better-sqlite3, a third of the whole insert (measured).
            const changes = upsert.run(
                key.providerConfigKey, key.connectionId, key.model, key.variant, row.id, row.data, row.lastAction,
                row.deletedAt, row.prunedAt, row.firstSeenAt, row.lastModifiedAt, row.cursor, page.syncedAt,
                row.keepData ? 1 : 0,
            ).changes;
            if (changes === 0) result.skipped++;
            else if (row.lastAction === 'DELETED') result.deleted++;
            else result.upserted++;
        }
        // Same transaction: the cursor may never run ahead of the rows.
        const updated = advanceCursor.run({ ...base, cursor: page.cursor, count: page.rows.length, syncedAt: page.syncedAt, pullStartedAt: page.pullStartedAt });
        if (updated.changes !== 1) throw new Error('The sync state row of this key is missing; the page was rolled back.');
        return result;
    });
}
