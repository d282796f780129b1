import type Database from 'better-sqlite3';
import type { SyncKey } from '../../sync/syncKey.js';
import type { DueKey, PullFinish, PullStart } from '../mirrorStore.js';

/**
 * The sync-state statements every webhook and every pull runs, prepared once. Under a webhook
 * flood they run thousands of times a second; drizzle's builder rebuilt and re-prepared each one,
 * which cost more than the statement itself (measured in the webhook flood benchmark).
 */
export interface SyncStateStatements {
    /** One more pull request for the key (a new key starts at 1); due now, whatever backoff it was in. */
    requestPull: (key: SyncKey, at: string) => void;
    /** Marks the key running; undefined when the key has no row yet. */
    startPull: (key: SyncKey, at: string) => PullStart | undefined;
    finishPull: (key: SyncKey, result: PullFinish) => void;
    listDueKeys: (now: string) => DueKey[];
}

const KEY = 'provider_config_key = @providerConfigKey AND connection_id = @connectionId AND model = @model AND variant = @variant';

// In an upsert's SET, bare names are the stored row and `excluded.` the proposed one.
// Positional parameters (the key, then \`at\` three times) for the statements run per webhook:
// named ones cost a few µs more a call in better-sqlite3.
const REQUEST_PULL = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, pull_requested_at, created_at, updated_at)
VALUES (?, ?, ?, ?, 'pending', 1, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
    request_seq = request_seq + 1,
    pull_requested_at = excluded.pull_requested_at,
    next_attempt_at = NULL,
    status = CASE WHEN status IN ('running', 'failed') THEN status ELSE 'pending' END,
    gone_at = NULL,
    -- A successful sync webhook supersedes the last failed one.
    nango_sync_error = NULL,
    nango_sync_error_at = NULL,
    updated_at = excluded.updated_at`;

const START_PULL = `
UPDATE nango_sync_state SET status = 'running', pull_started_at = ?, updated_at = ?
WHERE provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?
RETURNING cursor, request_seq AS requestSeq, consecutive_failures AS consecutiveFailures, resync_from AS resyncFrom, resync_sweep AS resyncSweep`;

// Every SET expression sees the row as it was, so both resync columns test the old resync_from.
const FINISH_PULL = `
UPDATE nango_sync_state SET
    status = CASE WHEN request_seq > @requestSeq THEN 'pending' ELSE 'ok' END,
    done_seq = max(done_seq, @requestSeq),
    last_success_at = @at,
    last_error = NULL,
    last_error_code = NULL,
    next_attempt_at = NULL,
    consecutive_failures = 0,
    last_pull_records = @records,
    last_pull_pages = @pages,
    -- A resync asked for before this pull started is complete (swept if it asked).
    resync_sweep = CASE WHEN resync_from <= @startedAt THEN 0 ELSE resync_sweep END,
    resync_from = CASE WHEN resync_from <= @startedAt THEN NULL ELSE resync_from END,
    updated_at = @at
WHERE ${KEY}`;

const LIST_DUE = `
SELECT provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant, request_seq AS requestSeq, pull_requested_at AS requestedAt
FROM nango_sync_state
WHERE request_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
ORDER BY pull_requested_at`;

export function createSyncStateStatements(sqlite: Database.Database): SyncStateStatements {
    const requestPull = sqlite.prepare(REQUEST_PULL);
    const startPull = sqlite.prepare<[string, string, string, string, string, string], Omit<PullStart, 'resyncSweep'> & { resyncSweep: number }>(START_PULL);
    const finishPull = sqlite.prepare(FINISH_PULL);
    const listDue = sqlite.prepare<[string], DueKey>(LIST_DUE);

    return {
        requestPull(key, at) {
            requestPull.run(key.providerConfigKey, key.connectionId, key.model, key.variant, at, at, at);
        },
        startPull(key, at) {
            const row = startPull.get(at, at, key.providerConfigKey, key.connectionId, key.model, key.variant);
            return row && { ...row, resyncSweep: row.resyncSweep === 1 };
        },
        finishPull(key, result) {
            const { providerConfigKey, connectionId, model, variant } = key;
            finishPull.run({ providerConfigKey, connectionId, model, variant, requestSeq: result.requestSeq, startedAt: result.startedAt, records: result.records, pages: result.pages, at: result.at });
        },
        listDueKeys(now) {
            return listDue.all(now);
        },
    };
}
