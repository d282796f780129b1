import type { SyncKey } from '../../domain/syncKey.js';
import { liveRowsAtFinish } from '../countDrift.js';
import type { PullSession, PullSessions, PullStart } from '../store.js';
import type { SqliteConnection } from './connection.js';
import { withChangeAction } from './changeLog.js';
import { createPageWriter, type PageWriter } from './pageWriter.js';

const KEY = 'provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?';
const keyArgs = (k: SyncKey) => [k.providerConfigKey, k.connectionId, k.model, k.variant] as const;

// A key the store has never seen (a reconcile or admin request raced a fresh database) is inserted running.
const CLAIM = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, pull_started_at, created_at, updated_at)
VALUES (?, ?, ?, ?, 'running', ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
    status = 'running', pull_started_at = excluded.pull_started_at, updated_at = excluded.updated_at
RETURNING cursor, request_seq AS requestSeq, consecutive_failures AS consecutiveFailures, resync_from AS resyncFrom, resync_sweep AS resyncSweep`;

// Every SET expression sees the row as it was, so both resync columns test the old resync_from.
const FINISH = `
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
    -- For the count-drift gauge (countDrift.ts), counted in the statement that ends the pull.
    live_rows_at_finish = ${liveRowsAtFinish(['@providerConfigKey', '@connectionId', '@model', '@variant'])},
    updated_at = @at
WHERE provider_config_key = @providerConfigKey AND connection_id = @connectionId AND model = @model AND variant = @variant`;

// Keep the request pending: the key is retried once the backoff has passed.
const FAIL = `
UPDATE nango_sync_state SET status = 'failed', last_error = ?, last_error_code = ?,
    consecutive_failures = consecutive_failures + 1, next_attempt_at = ?,
    request_seq = max(request_seq, done_seq + 1), updated_at = ?
WHERE ${KEY}`;

const MARK_GONE = `
UPDATE nango_sync_state SET status = 'gone', gone_at = ?, last_error = ?, last_error_code = 'unknown_connection', done_seq = request_seq, updated_at = ?
WHERE ${KEY}`;

const ABANDON = `
UPDATE nango_sync_state SET status = 'pending', request_seq = max(request_seq, done_seq + 1), updated_at = ?
WHERE ${KEY} AND status = 'running'`;

const SWEEP_HARD = `DELETE FROM nango_records WHERE ${KEY} AND synced_at < ?`;
const SWEEP_SOFT = `UPDATE nango_records SET deleted_at = ?, last_action = 'DELETED', synced_at = ? WHERE ${KEY} AND synced_at < ? AND deleted_at IS NULL`;

/**
 * One process writes a SQLite file (the writer lock), and its scheduler runs one pull per key, so a
 * claim is never refused and holds nothing to release.
 */
export function sqlitePullSessions(conn: SqliteConnection): PullSessions {
    const claim = conn.statement<unknown[], Omit<PullStart, 'resyncSweep'> & { resyncSweep: number }>(CLAIM);
    const finish = conn.statement(FINISH);
    const fail = conn.statement(FAIL);
    const markGone = conn.statement(MARK_GONE);
    const abandon = conn.statement(ABANDON);
    const sweepHard = conn.statement(SWEEP_HARD);
    const sweepSoft = conn.statement(SWEEP_SOFT);
    let pageWriter: PageWriter | undefined;

    return {
        async withPull(key, at, pull) {
            const row = conn.withoutFsync(() => claim().get(...keyArgs(key), at, at, at))!;
            const start: PullStart = { ...row, resyncSweep: row.resyncSweep === 1 };
            const session: PullSession = {
                key,
                start,
                async writePage(page) {
                    pageWriter ??= createPageWriter(conn);
                    const write = pageWriter;
                    // A pull writes without pausing: past its bound the WAL starts over here, not at the pull's end.
                    await conn.makeWalRoom();
                    // Committed without an fsync on the event loop; durable once the WAL's fsync on the thread pool returns.
                    const result = conn.withoutFsync(() => write(key, page));
                    return { result, durable: conn.flush() };
                },
                async sweep(from, deletes, sweptAt) {
                    // The rows it removes or tombstones are logged `swept`, in its transaction.
                    return conn.durably(() =>
                        withChangeAction(conn.db, 'swept', () =>
                            deletes === 'hard' ? sweepHard().run(...keyArgs(key), from).changes : sweepSoft().run(sweptAt, sweptAt, ...keyArgs(key), from).changes,
                        ),
                    );
                },
                async finish(result) {
                    const { providerConfigKey, connectionId, model, variant } = key;
                    conn.withoutFsync(() =>
                        finish().run({ providerConfigKey, connectionId, model, variant, requestSeq: result.requestSeq, startedAt: result.startedAt, records: result.records, pages: result.pages, at: result.at }),
                    );
                },
                async fail(failure) {
                    conn.withoutFsync(() => fail().run(failure.error, failure.code, failure.nextAttemptAt, failure.at, ...keyArgs(key)));
                },
                async markGone(reason, goneAt) {
                    await conn.durably(() => markGone().run(goneAt, reason, goneAt, ...keyArgs(key)));
                },
                async abandon(abandonedAt) {
                    conn.withoutFsync(() => abandon().run(abandonedAt, ...keyArgs(key)));
                },
            };
            return pull(session);
        },
    };
}

/** Keys left running by a crash become pending again (one process per file: none is running now). */
export function recoverSqliteInterruptedPulls(conn: SqliteConnection, at: string): number {
    return conn.db.prepare(`UPDATE nango_sync_state SET status = 'pending', request_seq = max(request_seq, done_seq + 1), updated_at = ? WHERE status = 'running'`).run(at).changes;
}
