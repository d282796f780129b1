import type { KeyStatus } from '../../domain/keyState.js';
import type { SyncKey } from '../../domain/syncKey.js';
import { COUNT_DRIFT } from '../countDrift.js';
import type { CountDrift, DueKey, KeyStates, KeySummary } from '../store.js';
import type { SqliteConnection } from './connection.js';

const KEY_FILTER = 'provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?';

const COLUMNS = `s.provider_config_key AS providerConfigKey, s.connection_id AS connectionId, s.model, s.variant, s.status, s.cursor,
    s.request_seq AS requestSeq, s.done_seq AS doneSeq, s.pull_requested_at AS pullRequestedAt, s.pull_started_at AS pullStartedAt,
    s.last_success_at AS lastSuccessAt, s.next_attempt_at AS nextAttemptAt, s.last_error AS lastError, s.last_error_code AS lastErrorCode,
    s.consecutive_failures AS consecutiveFailures, s.nango_sync_error AS nangoSyncError, s.nango_sync_status AS nangoSyncStatus,
    s.nango_finished_at AS nangoFinishedAt, s.nango_record_count AS nangoRecordCount, s.live_rows_at_finish AS liveRowsAtFinish, s.nango_status_at AS nangoStatusAt, s.records_pulled_total AS recordsPulledTotal`;

/** With row counts; the count scans only the rows it reports (one key's, or all). */
const counted = (recordsWhere: string) => `
SELECT ${COLUMNS}, coalesce(r.live, 0) AS liveRows, coalesce(r.deleted, 0) AS deletedRows
FROM nango_sync_state s
LEFT JOIN (SELECT provider_config_key, connection_id, model, variant, sum(deleted_at IS NULL) AS live, sum(deleted_at IS NOT NULL) AS deleted
           FROM nango_records ${recordsWhere} GROUP BY 1, 2, 3, 4) r
  USING (provider_config_key, connection_id, model, variant)`;
const UNCOUNTED = `SELECT ${COLUMNS}, 0 AS liveRows, 0 AS deletedRows FROM nango_sync_state s`;
const THE_KEY = 'WHERE s.provider_config_key = ? AND s.connection_id = ? AND s.model = ? AND s.variant = ?';

const ONE = `${counted(`WHERE ${KEY_FILTER}`)} ${THE_KEY}`;
const ONE_UNCOUNTED = `${UNCOUNTED} ${THE_KEY}`;
const ALL = `${counted('')} ORDER BY 1, 2, 3, 4`;
const ALL_UNCOUNTED = `${UNCOUNTED} ORDER BY 1, 2, 3, 4`;
// Keyset paging over the primary key: each batch costs its own rows, wherever it starts.
const FIRST_KEYS = `${UNCOUNTED} ORDER BY 1, 2, 3, 4 LIMIT ?`;
const KEYS_AFTER = `${UNCOUNTED} WHERE (s.provider_config_key, s.connection_id, s.model, s.variant) > (?, ?, ?, ?) ORDER BY 1, 2, 3, 4 LIMIT ?`;

const DUE_COLUMNS = `provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant, request_seq AS requestSeq,
       pull_requested_at AS requestedAt, announced_seq > done_seq AS announced`;
const LIST_DUE = `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE request_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
ORDER BY pull_requested_at
LIMIT ?`;
// Through its own partial index: background requests waiting in front cost nothing.
const LIST_DUE_ANNOUNCED = `
SELECT ${DUE_COLUMNS}
FROM nango_sync_state
WHERE announced_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
ORDER BY pull_requested_at
LIMIT ?`;

// The rules of isPending and oldestSuccessAgeSeconds (domain/keyState.ts), and count drift, as one aggregate.
const SUMMARY = `
SELECT count(*) AS keys,
       coalesce(sum(status <> 'gone' AND request_seq > done_seq), 0) AS pendingKeys,
       coalesce(sum(status <> 'gone' AND nango_sync_status = 'ERROR'), 0) AS nangoErrorKeys,
       min(CASE WHEN status <> 'gone' THEN coalesce(last_success_at, pull_requested_at) END) AS oldestSuccessAt,
       coalesce(sum(${COUNT_DRIFT}), 0) AS countDriftKeys
FROM nango_sync_state`;

const LIST_COUNT_DRIFT = `
SELECT provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant,
       live_rows_at_finish AS liveRowsAtFinish, nango_record_count AS nangoRecordCount
FROM nango_sync_state
WHERE ${COUNT_DRIFT}
ORDER BY 1, 2, 3, 4
LIMIT ?`;


export function sqliteKeyStates(conn: SqliteConnection): KeyStates {
    const one = conn.statement<unknown[], KeyStatus>(ONE);
    const oneUncounted = conn.statement<unknown[], KeyStatus>(ONE_UNCOUNTED);
    const all = conn.statement<[], KeyStatus>(ALL);
    const allUncounted = conn.statement<[], KeyStatus>(ALL_UNCOUNTED);
    const firstKeys = conn.statement<[number], KeyStatus>(FIRST_KEYS);
    const keysAfter = conn.statement<[string, string, string, string, number], KeyStatus>(KEYS_AFTER);
    const listDue = conn.statement<[string, number], Omit<DueKey, 'announced'> & { announced: 0 | 1 }>(LIST_DUE);
    const listDueAnnounced = conn.statement<[string, number], Omit<DueKey, 'announced'> & { announced: 0 | 1 }>(LIST_DUE_ANNOUNCED);
    const summary = conn.statement<[], KeySummary>(SUMMARY);
    const listCountDrift = conn.statement<[number], CountDrift>(LIST_COUNT_DRIFT);
    const keyArgs = (k: SyncKey) => [k.providerConfigKey, k.connectionId, k.model, k.variant];

    return {
        async getKeyStatus(key, options) {
            if (options?.counts === false) return oneUncounted().get(...keyArgs(key));
            return one().get(...keyArgs(key), ...keyArgs(key));
        },
        async listKeyStatus(options) {
            return (options?.counts === false ? allUncounted() : all()).all();
        },
        async listKeysAfter(after, limit) {
            return after === null ? firstKeys().all(limit) : keysAfter().all(after.providerConfigKey, after.connectionId, after.model, after.variant, limit);
        },
        async summarizeKeys() {
            return summary().get()!;
        },
        async listDueKeys(now, limit, options) {
            const rows = (options?.announcedOnly ? listDueAnnounced() : listDue()).all(now, limit);
            return rows.map((r) => ({ ...r, announced: r.announced === 1 }));
        },
        async listCountDrift(limit) {
            return listCountDrift().all(limit);
        },
    };
}
