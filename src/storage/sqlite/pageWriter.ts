import type Database from 'better-sqlite3';
import type { RecordRow } from '../../domain/recordRow.js';
import type { SyncKey } from '../../domain/syncKey.js';
import type { PageCommit, PageResult } from '../store.js';
import type { SqliteConnection } from './connection.js';

/**
 * The hot path: one page of records and its cursor in one transaction, through prepared
 * statements (drizzle's builder would rebuild the SQL per row; this runs at database speed).
 */
export type PageWriter = (key: SyncKey, page: PageCommit) => PageResult;

/**
 * Rows one upsert statement takes at most. Most of a single-row upsert's cost is the call into
 * better-sqlite3 and SQLite's per-statement work (bind, step, reset), not the B-tree: the upserts
 * alone (a throwaway micro-benchmark, 100 pages of the ingest bench's 1,000 rows, 7 rounds
 * alternating, fastest to median) took 5.7-6.8 ms a page with 20 rows a statement and the key's
 * names bound once per statement, against 8.0-9.2 one row a statement (10 rows: 5.5-6.7; 20 rows
 * with every value bound per row: 6.4-7.6). bench/sqlitePageCommit.ts measures the whole writer.
 */
const ROWS_PER_STATEMENT = 20;

// `CAST(? AS TEXT)`: the payload comes as text or as the UTF-8 bytes Nango sent (recordRow.ts), which
// SQLite stores as text without converting them (the page worker checked they are UTF-8).
// `>=`: a re-read of the same version is idempotent, and a prune (which keeps last_modified_at)
// still lands; only an older version is refused. The key's names and the page's synced_at are
// named, bound once a statement; each row binds its own eight values, in this order (pushRowValues).
const ROW_VALUES = '(@pck, @conn, @model, @variant, ?, CAST(? AS TEXT), ?, ?, ?, ?, ?, ?, @syncedAt)';

/** An upsert of `rows` rows; `keepData`: an update keeps the stored payload (RecordRow.keepData). */
function upsertSql(rows: number, keepData: boolean): string {
    return `
INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
    deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
VALUES ${Array.from({ length: rows }, () => ROW_VALUES).join(',\n    ')}
ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
    data = ${keepData ? 'nango_records.data' : 'excluded.data'},
    last_action = excluded.last_action,
    deleted_at = excluded.deleted_at,
    pruned_at = excluded.pruned_at,
    first_seen_at = excluded.first_seen_at,
    last_modified_at = excluded.last_modified_at,
    cursor = excluded.cursor,
    synced_at = excluded.synced_at
WHERE excluded.last_modified_at >= nango_records.last_modified_at`;
}

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

// The change log's rows for the records a page inserted, one statement for many: they are read
// back by rowid range, in insertion order, so seq follows the page's. Passing [id, action,
// last_modified_at] as a JSON array instead cost 1.6 ms a 1,000-row page against 0.9
// (JSON.stringify, then json_each; a micro-benchmark of both statements). Updates and deletes are
// logged by triggers (drizzle/sqlite/0010).
const LOG_ADDED = `
INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
SELECT provider_config_key, connection_id, model, variant, id, CASE WHEN deleted_at IS NULL THEN 'added' ELSE 'deleted' END,
    last_modified_at, ${COMMITTED_AT}
FROM nango_records WHERE rowid BETWEEN ? AND ? ORDER BY rowid`;

const LOG_ENABLED = 'SELECT enabled FROM nango_mirror_change_log WHERE id = 1';
const MAX_ROWID = 'SELECT max(rowid) FROM nango_records';
const HIGHEST_ROWID = 9223372036854775807n;

// A row of this connection's own temp table inserted with rowid -1: it sets last_insert_rowid()
// to a value no nango_records insert can produce (the row-by-row log, below).
const PROBE_TABLE = 'CREATE TEMP TABLE IF NOT EXISTS nango_mirror_rowid_probe (x)';
const RESET_LAST_ROWID = 'INSERT OR REPLACE INTO temp.nango_mirror_rowid_probe (rowid, x) VALUES (-1, NULL)';

/** A row's own values, in ROW_VALUES's order. */
function pushRowValues(values: unknown[], row: RecordRow): void {
    values.push(row.id, row.data, row.lastAction, row.deletedAt, row.prunedAt, row.firstSeenAt, row.lastModifiedAt, row.cursor);
}

/** Prepares the page statements: call once the tables exist. */
export function createPageWriter(conn: SqliteConnection): PageWriter {
    const { db } = conn;
    // Prepared on first use: [keepData ? 1 : 0][rows]. Rowids as BigInts: once the highest rowid
    // is taken SQLite picks random ones, beyond 2^53.
    const upserts: Database.Statement[][] = [[], []];
    const upsert = (rows: number, keepData: boolean) => {
        const byRows = upserts[keepData ? 1 : 0]!;
        return (byRows[rows] ??= db.prepare(upsertSql(rows, keepData)).safeIntegers(true));
    };
    const hardDelete = db.prepare(HARD_DELETE);
    const advanceCursor = db.prepare(ADVANCE_CURSOR);
    const logAdded = db.prepare(LOG_ADDED);
    const logEnabled = db.prepare(LOG_ENABLED).pluck();
    const maxRowid = db.prepare(MAX_ROWID).pluck().safeIntegers(true);
    db.exec(PROBE_TABLE);
    const resetRowid = db.prepare(RESET_LAST_ROWID).safeIntegers(true);
    /** The rowid the next insert takes while the highest is not taken: the highest + 1. */
    const nextRowid = () => ((maxRowid.get() as bigint | null) ?? 0n) + 1n;

    return db.transaction((key: SyncKey, page: PageCommit): PageResult => {
        const base = { pck: key.providerConfigKey, conn: key.connectionId, model: key.model, variant: key.variant };
        const named = { ...base, syncedAt: page.syncedAt };
        const result: PageResult = { upserted: 0, deleted: 0, skipped: 0 };
        // The change log (one writer, so seq follows commit order trivially). A row the upsert
        // inserted is told from one it updated without reading the old row: each insert takes the
        // table's highest rowid + 1, so the rows inserted since `from` (the highest + 1 when it was
        // read) are the rowids from `from` on, logged with one statement. Updated rows are logged by
        // the UPDATE trigger, which also tells a real change from a re-read. An AFTER INSERT
        // trigger would be simpler, but on the raw upsert (200,000 rows of ~1 KB, 1,000 a
        // transaction) it cost +35-40 % (a sub-program per row) against +10-15 % for one statement
        // per page; the per-row lookup of the old version an earlier attempt made cost 20-22 % of
        // the daemon's ingest, this ~6 % (bench).
        const logging = logEnabled.get() === 1;
        let from = logging ? nextRowid() : 0n;
        // Once the highest rowid may be taken within this page, SQLite picks new rowids at random:
        // then each row has its own statement and an insert is logged at once, told by
        // last_insert_rowid() moving from -1 (an upsert that updates leaves it as it was; a
        // trigger's own inserts are undone when it ends).
        const rowByRow = logging && from + BigInt(page.rows.length) >= HIGHEST_ROWID;
        if (rowByRow) resetRowid.run();

        // The rows not written yet: a run of the same kind (keepData, deleted) with no id twice.
        let batch: RecordRow[] = [];
        let batchKeepsData = false;
        let batchDeletes = false;
        // The ids written since the inserts were last logged, and those of `batch`.
        const pending = new Set<string>();

        const writeBatch = () => {
            if (batch.length === 0) return;
            const values: unknown[] = [];
            for (const row of batch) pushRowValues(values, row);
            const info = upsert(batch.length, batchKeepsData).run(values, named);
            result.skipped += batch.length - info.changes;
            if (batchDeletes) result.deleted += info.changes;
            else result.upserted += info.changes;
            if (rowByRow && info.lastInsertRowid !== -1n) {
                const rowid = BigInt(info.lastInsertRowid);
                logAdded.run(rowid, rowid);
                resetRowid.run();
            }
            batch = [];
        };
        /** Writes the rows waiting, then logs every insert not logged yet. */
        const logInserts = (last: boolean) => {
            writeBatch();
            pending.clear();
            if (!logging || rowByRow) return;
            logAdded.run(from, HIGHEST_ROWID);
            if (!last) from = nextRowid();
        };

        for (const row of page.rows) {
            // A record the page repeats: its earlier copy is written (and, if inserted, logged)
            // first, so seq keeps the page's order and no statement touches a row twice.
            if (pending.has(row.id)) logInserts(false);
            const deletes = row.lastAction === 'DELETED';
            if (page.deletes === 'hard' && deletes) {
                writeBatch();
                const removed = hardDelete.run({ ...base, id: row.id, lastModifiedAt: row.lastModifiedAt }).changes;
                result.deleted += removed;
                // A freed highest rowid is the next insert's: `from` moves back to it, unless rows
                // inserted since `from` (not logged yet) still hold the highest.
                if (removed > 0 && logging && !rowByRow) {
                    const next = nextRowid();
                    if (next < from) from = next;
                }
                continue;
            }
            const size = rowByRow ? 1 : ROWS_PER_STATEMENT;
            if (batch.length > 0 && (batch.length === size || row.keepData !== batchKeepsData || deletes !== batchDeletes)) writeBatch();
            if (batch.length === 0) {
                batchKeepsData = row.keepData;
                batchDeletes = deletes;
            }
            batch.push(row);
            pending.add(row.id);
        }
        logInserts(true);
        // Same transaction: the cursor may never run ahead of the rows.
        const updated = advanceCursor.run({ ...base, cursor: page.cursor, count: page.rows.length, syncedAt: page.syncedAt, pullStartedAt: page.pullStartedAt });
        if (updated.changes !== 1) throw new Error('The sync state row of this key is missing; the page was rolled back.');
        return result;
    });
}
