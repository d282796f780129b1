import type pg from 'pg';
import { keyString, type SyncKey } from '../../domain/syncKey.js';
import { liveRowsAtFinish } from '../countDrift.js';
import type { PullSession, PullSessions, PullStart } from '../store.js';
import { changeActionSql } from './changeLog.js';
import { writePage } from './pageWriter.js';
import { iso, KEY_WHERE, keyArgs } from './pool.js';
import { restoreCommitFlush, SKIP_COMMIT_FLUSH } from './synchronousCommit.js';

const CLAIM = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, pull_started_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'running', $5, $5, $5)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
    status = 'running', pull_started_at = excluded.pull_started_at, updated_at = excluded.updated_at
RETURNING cursor, request_seq AS "requestSeq", consecutive_failures AS "consecutiveFailures", ${iso('resync_from')} AS "resyncFrom", resync_sweep AS "resyncSweep"`;

const FINISH = `
UPDATE nango_sync_state SET
    status = CASE WHEN request_seq > $5 THEN 'pending' ELSE 'ok' END,
    done_seq = greatest(done_seq, $5), last_success_at = $6, last_error = NULL, last_error_code = NULL,
    next_attempt_at = NULL, consecutive_failures = 0, last_pull_records = $7, last_pull_pages = $8, updated_at = $6,
    resync_sweep = CASE WHEN resync_from <= $9 THEN false ELSE resync_sweep END,
    resync_from = CASE WHEN resync_from <= $9 THEN NULL ELSE resync_from END,
    -- For the count-drift gauge (countDrift.ts), counted in the statement that ends the pull.
    live_rows_at_finish = ${liveRowsAtFinish(['$1', '$2', '$3', '$4'])}
WHERE ${KEY_WHERE}`;

// Keep the request pending: the key is retried once the backoff has passed.
const FAIL = `
UPDATE nango_sync_state SET status = 'failed', last_error = $5, last_error_code = $6,
    consecutive_failures = consecutive_failures + 1, next_attempt_at = $7,
    request_seq = greatest(request_seq, done_seq + 1), updated_at = $8
WHERE ${KEY_WHERE}`;

const MARK_GONE = `
UPDATE nango_sync_state SET status = 'gone', gone_at = $5, last_error = $6, last_error_code = 'unknown_connection', done_seq = request_seq, updated_at = $5
WHERE ${KEY_WHERE}`;

const ABANDON = `
UPDATE nango_sync_state SET status = 'pending', request_seq = greatest(request_seq, done_seq + 1), updated_at = $5
WHERE ${KEY_WHERE} AND status = 'running'`;

const SWEEP_HARD = `DELETE FROM nango_records WHERE ${KEY_WHERE} AND synced_at < $5`;
const SWEEP_SOFT = `UPDATE nango_records SET deleted_at = $6, last_action = 'DELETED', synced_at = $6 WHERE ${KEY_WHERE} AND synced_at < $5 AND deleted_at IS NULL`;

/**
 * The shared engine. Several daemons may use one database: a pull holds a session-level advisory
 * lock on its own connection for its whole run, so no key is pulled by two daemons at once, and a
 * daemon that dies releases its locks with its connections (Postgres ends the session). Every
 * statement of the pull runs on that connection.
 */
export function postgresPullSessions(pool: pg.Pool, schema: string, notifyChannel?: string): PullSessions & { destroyAll(): void } {
    const lockKey = (key: SyncKey) => `nango-mirror:${schema}:${keyString(key)}`;
    /** The connections of pulls in progress, so closing the store can end them (and their locks). */
    const active = new Set<pg.PoolClient>();

    return {
        destroyAll() {
            for (const client of active) client.release(new Error('store closed'));
            active.clear();
        },
        async withPull(key, at, pull) {
            const client = await pool.connect();
            active.add(client);
            let locked = false;
            try {
                // Held, this connection commits the pull's bookkeeping without waiting for the WAL
                // flush (synchronousCommit.ts); pages set it back per transaction (pageWriter.ts).
                const lock = await client.query<{ ok: boolean }>(
                    `SELECT ok, CASE WHEN ok THEN ${SKIP_COMMIT_FLUSH} END FROM (SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok) l`,
                    [lockKey(key)],
                );
                locked = lock.rows[0]?.ok === true;
                if (!locked) return null;
                const row = (await client.query<Omit<PullStart, 'requestSeq'> & { requestSeq: string }>(CLAIM, [...keyArgs(key), at])).rows[0]!;
                const start: PullStart = { ...row, requestSeq: Number(row.requestSeq) };
                return await pull(postgresSession(client, key, start, notifyChannel));
            } finally {
                // Unless closing the store already ended it.
                if (active.delete(client)) await release(client, locked ? lockKey(key) : undefined);
            }
        },
    };
}

function postgresSession(client: pg.PoolClient, key: SyncKey, start: PullStart, notifyChannel: string | undefined): PullSession {
    const args = keyArgs(key);
    return {
        key,
        start,
        // A commit returns once it is durable (writePage restores the commit flush).
        writePage: async (page) => ({ result: await writePage(client, key, page, notifyChannel), durable: Promise.resolve() }),
        async sweep(from, deletes, at) {
            // The rows it removes or tombstones are logged `swept`, in its transaction, which waits
            // for its WAL flush like a page: an asynchronous commit is visible before it is durable,
            // so a reader could see changes (and seq numbers) a server crash then takes back.
            await client.query(`BEGIN; SELECT ${restoreCommitFlush(true)}; ${changeActionSql('swept')}`);
            try {
                const res = deletes === 'hard' ? await client.query(SWEEP_HARD, [...args, from]) : await client.query(SWEEP_SOFT, [...args, from, at]);
                await client.query('COMMIT');
                return res.rowCount ?? 0;
            } catch (err) {
                await client.query('ROLLBACK').catch(() => undefined);
                throw err;
            }
        },
        async finish(result) {
            await client.query(FINISH, [...args, result.requestSeq, result.at, result.records, result.pages, result.startedAt]);
        },
        async fail(failure) {
            await client.query(FAIL, [...args, failure.error, failure.code, failure.nextAttemptAt, failure.at]);
        },
        async markGone(reason, at) {
            await client.query(MARK_GONE, [...args, at, reason]);
        },
        async abandon(at) {
            await client.query(ABANDON, [...args, at]);
        },
    };
}

/** Unlocks and returns the connection with the server's synchronous_commit; a broken one is destroyed, which ends its session and so its lock. */
async function release(client: pg.PoolClient, lockKey: string | undefined): Promise<void> {
    if (lockKey === undefined) return client.release();
    try {
        await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0)), ${restoreCommitFlush(false)}`, [lockKey]);
        client.release();
    } catch (err) {
        client.release(err as Error);
    }
}

/** Keys left running by a crash: a running key whose lock is free was orphaned, so it becomes pending again. */
export async function recoverPostgresInterruptedPulls(pool: pg.Pool, sessions: PullSessions, at: string): Promise<number> {
    const res = await pool.query<SyncKey>(
        `SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant FROM nango_sync_state WHERE status = 'running'`,
    );
    let n = 0;
    for (const key of res.rows) {
        const recovered = await sessions.withPull(key, at, async (session) => {
            await session.abandon(at);
            return true;
        });
        if (recovered) n++;
    }
    return n;
}
