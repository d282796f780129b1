import type pg from 'pg';
import type { KeyStatus } from '../../domain/keyState.js';
import { compactKeyStatus } from '../compactKeyStatus.js';
import { COUNT_DRIFT } from '../countDrift.js';
import { toKeySummary, type KeySummaryRow } from '../keySummaryRow.js';
import type { CountDrift, DueKey, KeyStates } from '../store.js';
import { iso, KEY_WHERE, keyArgs } from './pool.js';

const COLUMNS = `s.provider_config_key AS "providerConfigKey", s.connection_id AS "connectionId", s.model, s.variant, s.status, s.cursor,
    s.request_seq::float8 AS "requestSeq", s.done_seq::float8 AS "doneSeq", ${iso('s.pull_requested_at')} AS "pullRequestedAt",
    ${iso('s.pull_started_at')} AS "pullStartedAt", ${iso('s.last_success_at')} AS "lastSuccessAt", ${iso('s.next_attempt_at')} AS "nextAttemptAt",
    s.last_error AS "lastError", s.last_error_code AS "lastErrorCode", s.consecutive_failures AS "consecutiveFailures",
    s.nango_sync_error AS "nangoSyncError", s.nango_sync_status AS "nangoSyncStatus", ${iso('s.nango_finished_at')} AS "nangoFinishedAt",
    s.nango_record_count::float8 AS "nangoRecordCount", s.live_rows_at_finish::float8 AS "liveRowsAtFinish", ${iso('s.nango_status_at')} AS "nangoStatusAt", s.records_pulled_total::float8 AS "recordsPulledTotal"`;

/**
 * With row counts; the count scans only the rows it reports (one key's, a page's, or all).
 * `records` is the FROM of the count, `states` the FROM of the keys (aliased `s`).
 */
const counted = (records: string, states = 'nango_sync_state s') => `
SELECT ${COLUMNS}, coalesce(r.live, 0)::float8 AS "liveRows", coalesce(r.deleted, 0)::float8 AS "deletedRows"
FROM ${states}
LEFT JOIN (SELECT provider_config_key, connection_id, model, variant,
              count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted
           FROM ${records} GROUP BY 1, 2, 3, 4) r
  USING (provider_config_key, connection_id, model, variant)`;
const UNCOUNTED = `SELECT ${COLUMNS}, 0::float8 AS "liveRows", 0::float8 AS "deletedRows" FROM nango_sync_state s`;
const THE_KEY = 'WHERE s.provider_config_key = $1 AND s.connection_id = $2 AND s.model = $3 AND s.variant = $4';

const ONE = `${counted(`nango_records WHERE ${KEY_WHERE}`)} ${THE_KEY}`;
const ONE_UNCOUNTED = `${UNCOUNTED} ${THE_KEY}`;
const ALL = `${counted('nango_records')} ORDER BY 1, 2, 3, 4`;
const ALL_UNCOUNTED = `${UNCOUNTED} ORDER BY 1, 2, 3, 4`;
// Keyset paging over the primary key: each batch costs its own rows, wherever it starts.
const FIRST_KEYS = `${UNCOUNTED} ORDER BY 1, 2, 3, 4 LIMIT $1`;
const KEYS_AFTER = `${UNCOUNTED} WHERE (s.provider_config_key, s.connection_id, s.model, s.variant) > ($1, $2, $3, $4) ORDER BY 1, 2, 3, 4 LIMIT $5`;

const DUE_COLUMNS = `provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant, request_seq::float8 AS "requestSeq",
       ${iso('pull_requested_at')} AS "requestedAt", announced_seq > done_seq AS announced`;
// listKeyPage (store.ts): as SQLite's (see there), in the order of the index nango_sync_state_page
// (tables.ts); keys in byte order (COLLATE "C"), as SQLite compares text, whatever the database's
// collation. A filter not asked for is a NULL parameter: Postgres plans each of these statements
// with its parameters' values (unnamed statements), so `NULL IS NULL OR …` folds away.
const PAGE_FILTER = `
WHERE ($1::text IS NULL OR s.provider_config_key = $1)
  AND ($2::text IS NULL OR s.connection_id = $2)
  AND ($3::text IS NULL OR CASE WHEN s.status = 'ok' AND s.request_seq > s.done_seq THEN 'pending' ELSE s.status END = $3)`;
const PAGE_ORDER = `(s.status = 'failed' OR s.consecutive_failures > 0) DESC, (s.status = 'gone'), s.last_success_at NULLS FIRST,
    s.provider_config_key COLLATE "C", s.connection_id COLLATE "C", s.model COLLATE "C", s.variant COLLATE "C"`;
const PAGE = `
WITH page AS MATERIALIZED (SELECT s.* FROM nango_sync_state s ${PAGE_FILTER} ORDER BY ${PAGE_ORDER} LIMIT $4 OFFSET $5)
${counted('page JOIN nango_records USING (provider_config_key, connection_id, model, variant)', 'page s')}
ORDER BY ${PAGE_ORDER}`;
const PAGE_TOTAL = `SELECT count(*)::float8 AS total FROM nango_sync_state s ${PAGE_FILTER}`;

/**
 * Keys whose `seq` is ahead of done_seq and due, oldest request first: every pending request
 * (`request_seq`), or the announced ones alone (`announced_seq`, while the API budget is spent).
 * Each condition is its partial index's (tables.ts), so the look reads only the rows it returns.
 */
const dueSql = (seq: 'request_seq' | 'announced_seq') => `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE ${seq} > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
ORDER BY pull_requested_at NULLS FIRST
LIMIT $2`;
const LIST_DUE = dueSql('request_seq');
const LIST_DUE_ANNOUNCED = dueSql('announced_seq');

// The rules of isPending and oldestSuccessAgeSeconds (domain/keyState.ts), and count drift, as one aggregate.
const SUMMARY = `
SELECT count(*)::float8 AS keys,
       (count(*) FILTER (WHERE status = 'pending'))::float8 AS "statusPending",
       (count(*) FILTER (WHERE status = 'running'))::float8 AS "statusRunning",
       (count(*) FILTER (WHERE status = 'ok'))::float8 AS "statusOk",
       (count(*) FILTER (WHERE status = 'failed'))::float8 AS "statusFailed",
       (count(*) FILTER (WHERE status = 'gone'))::float8 AS "statusGone",
       (count(*) FILTER (WHERE status <> 'gone' AND request_seq > done_seq))::float8 AS "pendingKeys",
       (count(*) FILTER (WHERE status <> 'gone' AND nango_sync_status = 'ERROR'))::float8 AS "nangoErrorKeys",
       ${iso("min(coalesce(last_success_at, pull_requested_at)) FILTER (WHERE status <> 'gone')")} AS "oldestSuccessAt",
       (count(*) FILTER (WHERE ${COUNT_DRIFT}))::float8 AS "countDriftKeys"
FROM nango_sync_state`;

const LIST_COUNT_DRIFT = `
SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant,
       live_rows_at_finish::float8 AS "liveRowsAtFinish", nango_record_count::float8 AS "nangoRecordCount"
FROM nango_sync_state
WHERE ${COUNT_DRIFT}
ORDER BY 1, 2, 3, 4
LIMIT $1`;


export function postgresKeyStates(pool: pg.Pool): KeyStates {
    return {
        async getKeyStatus(key, options) {
            return (await pool.query<KeyStatus>(options?.counts === false ? ONE_UNCOUNTED : ONE, keyArgs(key))).rows[0];
        },
        async listKeyStatus(options) {
            return (await pool.query<KeyStatus>(options?.counts === false ? ALL_UNCOUNTED : ALL)).rows;
        },
        async listKeysAfter(after, limit) {
            const { rows } = after === null ? await pool.query<KeyStatus>(FIRST_KEYS, [limit]) : await pool.query<KeyStatus>(KEYS_AFTER, [...keyArgs(after), limit]);
            return rows.map(compactKeyStatus);
        },
        async listKeyPage({ filter, offset, limit }) {
            const params = [filter?.providerConfigKey ?? null, filter?.connectionId ?? null, filter?.status ?? null];
            // Two statements at once, on two connections: the total may count a key written between them.
            const [total, page] = await Promise.all([pool.query<{ total: number }>(PAGE_TOTAL, params), pool.query<KeyStatus>(PAGE, [...params, limit, offset])]);
            return { total: total.rows[0]!.total, keys: page.rows };
        },
        async summarizeKeys() {
            return toKeySummary((await pool.query<KeySummaryRow>(SUMMARY)).rows[0]!);
        },
        async listDueKeys(now, limit, options) {
            return (await pool.query<DueKey>(options?.announcedOnly ? LIST_DUE_ANNOUNCED : LIST_DUE, [now, limit])).rows;
        },
        async listCountDrift(limit) {
            return (await pool.query<CountDrift>(LIST_COUNT_DRIFT, [limit])).rows;
        },
    };
}
