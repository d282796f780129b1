import type { SyncKey } from '../../domain/syncKey.js';
import type { PageCommit, PageResult } from '../store.js';
import type { SqliteConnection } from './connection.js';

/**
 * The hot path: one page of records and its cursor in one transaction, through prepared
 * statements (drizzle's builder would rebuild the SQL per row; this runs at database speed).
 */
export type PageWriter = (key: SyncKey, page: PageCommit) => PageResult;

// `CAST(? AS TEXT)`: the payload comes as text or as the UTF-8 bytes Nango sent (recordRow.ts), which
// SQLite stores as text without converting them (the page worker checked they are UTF-8).
// `>=`: a re-read of the same version is idempotent, and a prune (which keeps last_modified_at)
// still lands; only an older version is refused.
const UPSERT = `
INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
    deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?, ?, ?)
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

// When a change committed, on both engines the database's clock (Postgres: clock_timestamp());
// here in the mirror's text form, milliseconds padded to six digits like every time SQLite makes.
const COMMITTED_AT = `strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'`;

// The change log's new rows, one statement per run of inserts: the rows the page inserted hold
// consecutive rowids (each insert takes the table's highest rowid + 1, and within a run nothing it
// inserted is deleted), so they are read back by rowid range, in insertion order, so seq follows the
// page's. Passing [id, action, last_modified_at] as a JSON array instead cost 1.6 ms a 1,000-row page
// against 0.9 (JSON.stringify, then json_each; a micro-benchmark of both statements). Updates and
// deletes are logged by triggers (drizzle/sqlite/0010).
const LOG_ADDED = `
INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
SELECT provider_config_key, connection_id, model, variant, id, CASE WHEN deleted_at IS NULL THEN 'added' ELSE 'deleted' END,
    last_modified_at, ${COMMITTED_AT}
FROM nango_records WHERE rowid BETWEEN ? AND ? ORDER BY rowid`;

const LOG_ENABLED = 'SELECT enabled FROM nango_mirror_change_log WHERE id = 1';

// A row of this connection's own temp table inserted with rowid -1: it sets last_insert_rowid()
// to a value no nango_records insert can produce (see createPageWriter).
const PROBE_TABLE = 'CREATE TEMP TABLE IF NOT EXISTS nango_mirror_rowid_probe (x)';
const RESET_LAST_ROWID = 'INSERT OR REPLACE INTO temp.nango_mirror_rowid_probe (rowid, x) VALUES (-1, NULL)';

/** Prepares the page statements: call once the tables exist. */
export function createPageWriter(conn: SqliteConnection): PageWriter {
    const { db } = conn;
    // Rowids as BigInts: once the highest rowid is taken SQLite picks random ones, beyond 2^53.
    const upsert = db.prepare(UPSERT).safeIntegers(true);
    const hardDelete = db.prepare(HARD_DELETE);
    const advanceCursor = db.prepare(ADVANCE_CURSOR);
    const logAdded = db.prepare(LOG_ADDED);
    const logEnabled = db.prepare(LOG_ENABLED).pluck();
    db.exec(PROBE_TABLE);
    const resetRowid = db.prepare(RESET_LAST_ROWID).safeIntegers(true);

    return db.transaction((key: SyncKey, page: PageCommit): PageResult => {
        const base = { pck: key.providerConfigKey, conn: key.connectionId, model: key.model, variant: key.variant };
        const result: PageResult = { upserted: 0, deleted: 0, skipped: 0 };
        // The change log (one writer, so seq follows commit order trivially). A row the upsert
        // inserted is told from one it updated without reading the old row: an insert moves
        // last_insert_rowid() (to the new rowid), an upsert that updates leaves it as it was (a
        // trigger's own inserts are undone when it ends; the contract tests pin all of it). So
        // before the page, and after anything else that inserts or frees a rowid, it is set to -1,
        // which no new row gets. Updated rows are logged by the UPDATE trigger, which also tells a
        // real change from a re-read. An AFTER INSERT trigger would be simpler, but on the raw
        // upsert (200,000 rows of ~1 KB, 1,000 a transaction) it cost +35-40 % (a sub-program per
        // row) against +10-15 % for this one statement per page; the per-row lookup of the old
        // version an earlier attempt made cost 20-22 % of the daemon's ingest, this ~6 % (bench).
        const logging = logEnabled.get() === 1;
        let lastRowid = logging ? BigInt(resetRowid.run().lastInsertRowid) : 0n;
        // The run of inserts not logged yet: rowids first…last, and their record ids.
        let first = 0n;
        let last = 0n;
        const addedIds = new Set<string>();
        /** Logs the run (callers have one: `addedIds` is not empty). */
        const flush = () => {
            logAdded.run(first, last);
            addedIds.clear();
            lastRowid = BigInt(resetRowid.run().lastInsertRowid);
        };
        for (const row of page.rows) {
            // A record the page repeats: its earlier insert is logged first, so seq keeps the page's
            // order (and a run's rows are never changed or deleted before they are logged).
            if (addedIds.has(row.id)) flush();
            if (page.deletes === 'hard' && row.lastAction === 'DELETED') {
                const removed = hardDelete.run({ ...base, id: row.id, lastModifiedAt: row.lastModifiedAt }).changes;
                result.deleted += removed;
                // The freed rowid may be the next insert's, and equal lastRowid.
                if (removed > 0 && logging) lastRowid = BigInt(resetRowid.run().lastInsertRowid);
                continue;
            }
            // Positional, in the statement's order (the 14th is keepData): named parameters cost
            // about 3 µs a row more in better-sqlite3, a third of the whole insert (measured).
            const info = upsert.run(
                key.providerConfigKey, key.connectionId, key.model, key.variant, row.id, row.data, row.lastAction,
                row.deletedAt, row.prunedAt, row.firstSeenAt, row.lastModifiedAt, row.cursor, page.syncedAt,
                row.keepData ? 1 : 0,
            );
            if (info.changes === 0) result.skipped++;
            else if (row.lastAction === 'DELETED') result.deleted++;
            else result.upserted++;
            if (logging && info.changes > 0 && info.lastInsertRowid !== lastRowid) {
                const rowid = BigInt(info.lastInsertRowid);
                // Not next to the run (a random rowid: the highest is taken): log the run first.
                if (addedIds.size > 0 && rowid !== last + 1n) flush();
                if (addedIds.size === 0) first = rowid;
                last = rowid;
                lastRowid = rowid;
                addedIds.add(row.id);
            }
        }
        if (addedIds.size > 0) flush();
        // Same transaction: the cursor may never run ahead of the rows.
        const updated = advanceCursor.run({ ...base, cursor: page.cursor, count: page.rows.length, syncedAt: page.syncedAt, pullStartedAt: page.pullStartedAt });
        if (updated.changes !== 1) throw new Error('The sync state row of this key is missing; the page was rolled back.');
        return result;
    });
}
