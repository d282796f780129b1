import type Database from 'better-sqlite3';
import type { KeyStatus } from '../../domain/keyState.js';
import type { SyncKey } from '../../domain/syncKey.js';
import { compactKeyStatus } from '../compactKeyStatus.js';
import { COUNT_DRIFT } from '../countDrift.js';
import { mergeKeySummaryRows, toKeySummary, type KeySummaryRow } from '../keySummaryRow.js';
import { yieldToLoop } from '../../lib/yieldToLoop.js';
import type { CountDrift, DueKey, KeyStates } from '../store.js';
import type { SqliteConnection } from './connection.js';

const KEY_FILTER = 'provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?';

const COLUMNS = `s.provider_config_key AS providerConfigKey, s.connection_id AS connectionId, s.model, s.variant, s.status, s.cursor,
    s.request_seq AS requestSeq, s.done_seq AS doneSeq, s.pull_requested_at AS pullRequestedAt, s.pull_started_at AS pullStartedAt,
    s.last_success_at AS lastSuccessAt, s.next_attempt_at AS nextAttemptAt, s.last_error AS lastError, s.last_error_code AS lastErrorCode,
    s.consecutive_failures AS consecutiveFailures, s.nango_sync_error AS nangoSyncError, s.nango_sync_status AS nangoSyncStatus,
    s.nango_finished_at AS nangoFinishedAt, s.nango_record_count AS nangoRecordCount, s.live_rows_at_finish AS liveRowsAtFinish, s.nango_status_at AS nangoStatusAt, s.records_pulled_total AS recordsPulledTotal`;

/**
 * With row counts; the count scans only the rows it reports (one key's, a page's, or all).
 * `records` is the FROM of the count, `states` the FROM of the keys (aliased `s`).
 */
const counted = (records: string, states = 'nango_sync_state s') => `
SELECT ${COLUMNS}, coalesce(r.live, 0) AS liveRows, coalesce(r.deleted, 0) AS deletedRows
FROM ${states}
LEFT JOIN (SELECT provider_config_key, connection_id, model, variant, sum(deleted_at IS NULL) AS live, sum(deleted_at IS NOT NULL) AS deleted
           FROM ${records} GROUP BY 1, 2, 3, 4) r
  USING (provider_config_key, connection_id, model, variant)`;
const UNCOUNTED = `SELECT ${COLUMNS}, 0 AS liveRows, 0 AS deletedRows FROM nango_sync_state s`;
const THE_KEY = 'WHERE s.provider_config_key = ? AND s.connection_id = ? AND s.model = ? AND s.variant = ?';

const ONE = `${counted(`nango_records WHERE ${KEY_FILTER}`)} ${THE_KEY}`;
const ONE_UNCOUNTED = `${UNCOUNTED} ${THE_KEY}`;
const ALL = `${counted('nango_records')} ORDER BY 1, 2, 3, 4`;
const ALL_UNCOUNTED = `${UNCOUNTED} ORDER BY 1, 2, 3, 4`;
// Keyset paging over the primary key: each batch costs its own rows, wherever it starts.
const FIRST_KEYS = `${UNCOUNTED} ORDER BY 1, 2, 3, 4 LIMIT ?`;
const KEYS_AFTER = `${UNCOUNTED} WHERE (s.provider_config_key, s.connection_id, s.model, s.variant) > (?, ?, ?, ?) ORDER BY 1, 2, 3, 4 LIMIT ?`;

const DUE_COLUMNS = `provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant, request_seq AS requestSeq,
       pull_requested_at AS requestedAt, announced_seq > done_seq AS announced`;
// listKeyPage (store.ts): `isFailing` (domain/keyState.ts) as SQL, in the order of the index
// nango_sync_state_page (tables.ts), so a page walks the index instead of sorting every key. Paged
// by LIMIT/OFFSET: the order moves as keys succeed, so a keyset cursor would be no steadier, and
// the last page of 20,000 keys costs about 1 ms more than the first (20,000 index entries).
const PAGE_ORDER = `(s.status = 'failed' OR s.consecutive_failures > 0) DESC, (s.status = 'gone'), s.last_success_at NULLS FIRST,
    s.provider_config_key, s.connection_id, s.model, s.variant`;
/**
 * The filter's conditions (`shownState` as SQL for the status), each with its named parameter.
 * Only those asked for are in the statement: a condition on a column the index lacks, even one
 * that lets every key through, would read the table row of every key the page skips.
 */
const PAGE_CONDITIONS = {
    integration: 's.provider_config_key = @integration',
    connection: 's.connection_id = @connection',
    status: "CASE WHEN s.status = 'ok' AND s.request_seq > s.done_seq THEN 'pending' ELSE s.status END = @status",
} as const;
type PageFilter = Partial<Record<keyof typeof PAGE_CONDITIONS, string>>;

function pageSql(filter: PageFilter): { page: string; total: string } {
    const conditions = Object.keys(filter).map((name) => PAGE_CONDITIONS[name as keyof PageFilter]);
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    return {
        // The page first (MATERIALIZED), then only its keys' rows are counted: CROSS JOIN keeps the
        // page as the outer loop, so each key's rows are read through the primary key.
        page: `
WITH page AS MATERIALIZED (SELECT s.* FROM nango_sync_state s ${where} ORDER BY ${PAGE_ORDER} LIMIT @limit OFFSET @offset)
${counted('page CROSS JOIN nango_records USING (provider_config_key, connection_id, model, variant)', 'page s')}
ORDER BY ${PAGE_ORDER}`,
        total: `SELECT count(*) AS total FROM nango_sync_state s ${where}`,
    };
}

/**
 * Keys whose `seq` is ahead of done_seq and due, oldest request first: every pending request
 * (`request_seq`), or the announced ones alone (`announced_seq`, while the API budget is spent).
 * Each condition is its partial index's (tables.ts), so the look reads only the rows it returns.
 */
const dueSql = (seq: 'request_seq' | 'announced_seq') => `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE ${seq} > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
ORDER BY pull_requested_at
LIMIT ?`;
const LIST_DUE = dueSql('request_seq');
const LIST_DUE_ANNOUNCED = dueSql('announced_seq');

// The rules of isPending and oldestSuccessAgeSeconds (domain/keyState.ts), and count drift, as one aggregate.
const SUMMARY = `
SELECT count(*) AS keys,
       coalesce(sum(status = 'pending'), 0) AS statusPending,
       coalesce(sum(status = 'running'), 0) AS statusRunning,
       coalesce(sum(status = 'ok'), 0) AS statusOk,
       coalesce(sum(status = 'failed'), 0) AS statusFailed,
       coalesce(sum(status = 'gone'), 0) AS statusGone,
       coalesce(sum(status <> 'gone' AND request_seq > done_seq), 0) AS pendingKeys,
       coalesce(sum(status <> 'gone' AND nango_sync_status = 'ERROR'), 0) AS nangoErrorKeys,
       min(CASE WHEN status <> 'gone' THEN coalesce(last_success_at, pull_requested_at) END) AS oldestSuccessAt,
       coalesce(sum(${COUNT_DRIFT}), 0) AS countDriftKeys
FROM nango_sync_state
WHERE rowid > ? AND rowid <= ?`;
/**
 * Rows of `nango_sync_state` a read of every key takes between two turns of the event loop
 * (summarizeKeys, listCountDrift): a summary of all 20,000 at once held it 35–40 ms.
 */
const KEYS_A_READ = 4096;

const MAX_ROWID = 'SELECT coalesce(max(rowid), 0) AS maxRowid FROM nango_sync_state';

// listCountDrift, a read of KEYS_A_READ keys at a time in key order: the drifting keys among the
// next keys after a key (or the first), and where those keys end (no row: fewer are left).
const AFTER_KEY = 'WHERE (provider_config_key, connection_id, model, variant) > (?, ?, ?, ?)';
const driftingAmong = (after: boolean) => `
SELECT providerConfigKey, connectionId, model, variant, liveRowsAtFinish, nangoRecordCount FROM (
    SELECT provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant,
           live_rows_at_finish AS liveRowsAtFinish, nango_record_count AS nangoRecordCount, ${COUNT_DRIFT} AS drifts
    FROM nango_sync_state ${after ? AFTER_KEY : ''}
    ORDER BY 1, 2, 3, 4
    LIMIT ${KEYS_A_READ}
) WHERE drifts
ORDER BY 1, 2, 3, 4`;
const lastOfRead = (after: boolean) => `
SELECT provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant
FROM nango_sync_state ${after ? AFTER_KEY : ''}
ORDER BY 1, 2, 3, 4
LIMIT 1 OFFSET ${KEYS_A_READ - 1}`;

interface PageRange {
    limit: number;
    offset: number;
}

export function sqliteKeyStates(conn: SqliteConnection): KeyStates {
    const one = conn.statement<unknown[], KeyStatus>(ONE);
    const oneUncounted = conn.statement<unknown[], KeyStatus>(ONE_UNCOUNTED);
    const all = conn.statement<[], KeyStatus>(ALL);
    const allUncounted = conn.statement<[], KeyStatus>(ALL_UNCOUNTED);
    const firstKeys = conn.statement<[number], KeyStatus>(FIRST_KEYS);
    const keysAfter = conn.statement<[string, string, string, string, number], KeyStatus>(KEYS_AFTER);
    const listDue = conn.statement<[string, number], Omit<DueKey, 'announced'> & { announced: 0 | 1 }>(LIST_DUE);
    const listDueAnnounced = conn.statement<[string, number], Omit<DueKey, 'announced'> & { announced: 0 | 1 }>(LIST_DUE_ANNOUNCED);
    const summary = conn.statement<[number, number], KeySummaryRow>(SUMMARY);
    const maxRowid = conn.statement<[], { maxRowid: number }>(MAX_ROWID);
    const driftingFirst = conn.statement<[], CountDrift>(driftingAmong(false));
    const driftingAfter = conn.statement<[string, string, string, string], CountDrift>(driftingAmong(true));
    const lastOfFirst = conn.statement<[], SyncKey>(lastOfRead(false));
    const lastAfter = conn.statement<[string, string, string, string], SyncKey>(lastOfRead(true));
    // One pair of statements per combination of filters asked for (8 at most), prepared on first use.
    const pageStatements = new Map<string, { page: () => Database.Statement<[PageFilter & PageRange], KeyStatus>; total: () => Database.Statement<[PageFilter], { total: number }> }>();
    const statementsFor = (filter: PageFilter) => {
        const name = Object.keys(filter).join(',');
        let found = pageStatements.get(name);
        if (!found) {
            const sql = pageSql(filter);
            found = { page: conn.statement(sql.page), total: conn.statement(sql.total) };
            pageStatements.set(name, found);
        }
        return found;
    };
    const keyArgs = (k: SyncKey): [string, string, string, string] => [k.providerConfigKey, k.connectionId, k.model, k.variant];

    return {
        async getKeyStatus(key, options) {
            if (options?.counts === false) return oneUncounted().get(...keyArgs(key));
            return one().get(...keyArgs(key), ...keyArgs(key));
        },
        async listKeyStatus(options) {
            return (options?.counts === false ? allUncounted() : all()).all();
        },
        async listKeysAfter(after, limit) {
            const rows = after === null ? firstKeys().all(limit) : keysAfter().all(after.providerConfigKey, after.connectionId, after.model, after.variant, limit);
            return rows.map(compactKeyStatus);
        },
        async listKeyPage({ filter, offset, limit }) {
            // Always in this order: one combination of filters, one pair of statements.
            const asked: PageFilter = {};
            if (filter?.providerConfigKey !== undefined) asked.integration = filter.providerConfigKey;
            if (filter?.connectionId !== undefined) asked.connection = filter.connectionId;
            if (filter?.status !== undefined) asked.status = filter.status;
            const statements = statementsFor(asked);
            // One read transaction: the total and the page see the same keys.
            return conn.db.transaction(() => {
                const { total } = statements.total().get(asked)!;
                return { total, keys: total > offset ? statements.page().all({ ...asked, limit, offset }) : [] };
            })();
        },
        async summarizeKeys() {
            // In rowid ranges, the event loop running between them: a scrape never holds it for the
            // whole table. Not one snapshot: a key written between two ranges is counted as it was
            // when its range was read (a key's rowid never changes: upserts update in place).
            const last = maxRowid().get()!.maxRowid;
            const rows: KeySummaryRow[] = [];
            for (let from = 0; ; from += KEYS_A_READ) {
                rows.push(summary().get(from, from + KEYS_A_READ)!);
                if (from + KEYS_A_READ >= last) break;
                await yieldToLoop();
            }
            return toKeySummary(mergeKeySummaryRows(rows));
        },
        async listDueKeys(now, limit, options) {
            const rows = (options?.announcedOnly ? listDueAnnounced() : listDue()).all(now, limit);
            return rows.map((r) => ({ ...r, announced: r.announced === 1 }));
        },
        async listCountDrift(limit) {
            // In key order, a read at a time, the event loop running between them: one read of
            // 20,000 keys held it 58 ms in the keys bench on a slow day (a pass reads the drift).
            // Not one snapshot across reads, as summarizeKeys; but a read and where it ends are one
            // (another process's commit between the two statements skipped a key or read one twice).
            const read = conn.db.transaction((after: SyncKey | undefined) =>
                after
                    ? { drifting: driftingAfter().all(...keyArgs(after)), last: lastAfter().get(...keyArgs(after)) }
                    : { drifting: driftingFirst().all(), last: lastOfFirst().get() },
            );
            const found: CountDrift[] = [];
            for (let after: SyncKey | undefined; ; ) {
                const { drifting, last } = read(after);
                found.push(...drifting);
                if (found.length >= limit) return found.slice(0, limit);
                if (!last) return found;
                after = last;
                await yieldToLoop();
            }
        },
    };
}
