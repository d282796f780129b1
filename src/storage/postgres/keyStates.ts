import type pg from 'pg';
import type { KeyStatus } from '../../domain/keyState.js';
import { COUNT_DRIFT } from '../countDrift.js';
import type { CountDrift, DueKey, KeyStates, KeySummary } from '../store.js';
import { iso, KEY_WHERE, keyArgs } from './pool.js';

const COLUMNS = `s.provider_config_key AS "providerConfigKey", s.connection_id AS "connectionId", s.model, s.variant, s.status, s.cursor,
    s.request_seq::float8 AS "requestSeq", s.done_seq::float8 AS "doneSeq", ${iso('s.pull_requested_at')} AS "pullRequestedAt",
    ${iso('s.pull_started_at')} AS "pullStartedAt", ${iso('s.last_success_at')} AS "lastSuccessAt", ${iso('s.next_attempt_at')} AS "nextAttemptAt",
    s.last_error AS "lastError", s.last_error_code AS "lastErrorCode", s.consecutive_failures AS "consecutiveFailures",
    s.nango_sync_error AS "nangoSyncError", s.nango_sync_status AS "nangoSyncStatus", ${iso('s.nango_finished_at')} AS "nangoFinishedAt",
    s.nango_record_count::float8 AS "nangoRecordCount", s.live_rows_at_finish::float8 AS "liveRowsAtFinish", ${iso('s.nango_status_at')} AS "nangoStatusAt", s.records_pulled_total::float8 AS "recordsPulledTotal"`;

/** With row counts; the count scans only the rows it reports (one key's, or all). */
const counted = (recordsWhere: string) => `
SELECT ${COLUMNS}, coalesce(r.live, 0)::float8 AS "liveRows", coalesce(r.deleted, 0)::float8 AS "deletedRows"
FROM nango_sync_state s
LEFT JOIN (SELECT provider_config_key, connection_id, model, variant,
              count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted
           FROM nango_records ${recordsWhere} GROUP BY 1, 2, 3, 4) r
  USING (provider_config_key, connection_id, model, variant)`;
const UNCOUNTED = `SELECT ${COLUMNS}, 0::float8 AS "liveRows", 0::float8 AS "deletedRows" FROM nango_sync_state s`;
const THE_KEY = 'WHERE s.provider_config_key = $1 AND s.connection_id = $2 AND s.model = $3 AND s.variant = $4';

const ONE = `${counted(`WHERE ${KEY_WHERE}`)} ${THE_KEY}`;
const ONE_UNCOUNTED = `${UNCOUNTED} ${THE_KEY}`;
const ALL = `${counted('')} ORDER BY 1, 2, 3, 4`;
const ALL_UNCOUNTED = `${UNCOUNTED} ORDER BY 1, 2, 3, 4`;
// Keyset paging over the primary key: each batch costs its own rows, wherever it starts.
const FIRST_KEYS = `${UNCOUNTED} ORDER BY 1, 2, 3, 4 LIMIT $1`;
const KEYS_AFTER = `${UNCOUNTED} WHERE (s.provider_config_key, s.connection_id, s.model, s.variant) > ($1, $2, $3, $4) ORDER BY 1, 2, 3, 4 LIMIT $5`;

const DUE_COLUMNS = `provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant, request_seq::float8 AS "requestSeq",
       ${iso('pull_requested_at')} AS "requestedAt", announced_seq > done_seq AS announced`;
const LIST_DUE = `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE request_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
ORDER BY pull_requested_at NULLS FIRST
LIMIT $2`;
// Through its own partial index: background requests waiting in front cost nothing.
const LIST_DUE_ANNOUNCED = `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE announced_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
ORDER BY pull_requested_at NULLS FIRST
LIMIT $2`;

// The rules of isPending and oldestSuccessAgeSeconds (domain/keyState.ts), and count drift, as one aggregate.
const SUMMARY = `
SELECT count(*)::float8 AS keys,
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
            if (after === null) return (await pool.query<KeyStatus>(FIRST_KEYS, [limit])).rows;
            return (await pool.query<KeyStatus>(KEYS_AFTER, [...keyArgs(after), limit])).rows;
        },
        async summarizeKeys() {
            return (await pool.query<KeySummary>(SUMMARY)).rows[0]!;
        },
        async listDueKeys(now, limit, options) {
            return (await pool.query<DueKey>(options?.announcedOnly ? LIST_DUE_ANNOUNCED : LIST_DUE, [now, limit])).rows;
        },
        async listCountDrift(limit) {
            return (await pool.query<CountDrift>(LIST_COUNT_DRIFT, [limit])).rows;
        },
    };
}
