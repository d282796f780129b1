import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { keyString, type SyncKey } from '../../sync/syncKey.js';
import type { KeyStatus, MirrorStore, PageCommit, PageResult, PullStart } from '../mirrorStore.js';
import { applyPostgresViews } from './applyViews.js';
import { writePage } from './recordWriter.js';
import { restoreCommitFlush, SKIP_COMMIT_FLUSH } from './synchronousCommit.js';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

export interface PostgresStoreOptions {
    url: string;
    /** Every table goes in this schema (validated identifier). */
    schema: string;
    /** Connections in the pool: one per running pull, plus webhooks and polling. @default 10 */
    poolSize?: number;
    /**
     * Connections opened by `migrate()` and kept while idle, so that a burst of webhooks does not
     * wait for Postgres to start backends (a process each). @default 0
     */
    keepOpen?: number;
}

/** A timestamptz as the mirror's text form (UTC, six fraction digits), for answers shown to people. */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const KEY_WHERE = 'provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4';
const keyArgs = (k: SyncKey) => [k.providerConfigKey, k.connectionId, k.model, k.variant];

/**
 * The shared engine. Several daemons may use one database: a pull holds a session-level advisory
 * lock on its own connection for its whole run, so no key is pulled by two daemons at once, and a
 * daemon that dies releases its locks with its connections (Postgres ends the session).
 */
export function createPostgresStore(options: PostgresStoreOptions): MirrorStore {
    const pool = new pg.Pool({
        connectionString: options.url,
        max: options.poolSize ?? 10,
        min: Math.min(options.keepOpen ?? 0, options.poolSize ?? 10),
        options: `-c search_path=${options.schema}`,
        // Timestamps as text: a JS Date would drop Nango's microseconds.
        types: { getTypeParser: (oid: number, format?: string) => (oid === 1184 || oid === 1114 ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) },
    });
    pool.on('error', () => {
        // An idle client lost its connection; the pool replaces it and the next query reports errors.
    });
    /** The connection holding each running pull's advisory lock. */
    const pulls = new Map<string, pg.PoolClient>();
    const lockKey = (key: SyncKey) => `nango-mirror:${options.schema}:${keyString(key)}`;

    const one = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T | undefined> => (await pool.query<T>(text, values)).rows[0];

    const store: MirrorStore = {
        engine: 'postgres',

        async migrate() {
            const client = await pool.connect();
            try {
                // Replicas starting together migrate one at a time.
                await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`nango-mirror-migrate:${options.schema}`]);
                try {
                    await client.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
                    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS, migrationsSchema: options.schema });
                } finally {
                    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`nango-mirror-migrate:${options.schema}`]);
                }
            } finally {
                client.release();
            }
            const open = await Promise.all(Array.from({ length: Math.max(0, (options.keepOpen ?? 0) - pool.totalCount) }, () => pool.connect()));
            for (const c of open) c.release();
        },

        async lockForDaemon() {
            // Replicas share the database: nothing to refuse.
        },

        async checkReady() {
            const row = await one<{ n: number }>(
                "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('nango_records', 'nango_sync_state')",
                [options.schema],
            );
            if (row?.n !== 2) throw new Error('The mirror tables do not exist: run `nango-mirror migrate`.');
        },

        async requestPulls(keys, at) {
            if (keys.length === 0) return;
            await pool.query(
                `INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, pull_requested_at, created_at, updated_at)
                 SELECT k.pck, k.conn, k.model, k.variant, 'pending', k.n, $5, $5, $5
                 FROM (SELECT pck, conn, model, variant, count(*) AS n
                       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(pck, conn, model, variant)
                       GROUP BY 1, 2, 3, 4) k
                 -- Rows locked in one order by every batch (they run concurrently, here and in
                 -- other replicas): two batches naming the same keys cannot deadlock.
                 ORDER BY k.pck, k.conn, k.model, k.variant
                 ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
                    request_seq = nango_sync_state.request_seq + excluded.request_seq,
                    pull_requested_at = excluded.pull_requested_at,
                    next_attempt_at = NULL,
                    status = CASE WHEN nango_sync_state.status IN ('running', 'failed') THEN nango_sync_state.status ELSE 'pending' END,
                    gone_at = NULL,
                    nango_sync_error = NULL,
                    nango_sync_error_at = NULL,
                    updated_at = excluded.updated_at`,
                [keys.map((k) => k.providerConfigKey), keys.map((k) => k.connectionId), keys.map((k) => k.model), keys.map((k) => k.variant), at],
            );
        },

        async recordNangoSyncError(keys, error, at) {
            for (const key of keys) {
                await pool.query(
                    `INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, nango_sync_error, nango_sync_error_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'ok', $5, $6, $6, $6)
                     ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
                        nango_sync_error = excluded.nango_sync_error, nango_sync_error_at = excluded.nango_sync_error_at, updated_at = excluded.updated_at`,
                    [...keyArgs(key), error, at],
                );
            }
        },

        async markConnectionGone(providerConfigKey, connectionId, reason, at) {
            const res = await pool.query(
                `UPDATE nango_sync_state SET status = 'gone', gone_at = $3, last_error = $4, last_error_code = 'connection_deleted', done_seq = request_seq, updated_at = $3
                 WHERE provider_config_key = $1 AND connection_id = $2`,
                [providerConfigKey, connectionId, at, reason],
            );
            return res.rowCount ?? 0;
        },

        async listDueKeys(now) {
            const res = await pool.query<SyncKey & { requestSeq: string; requestedAt: string | null }>(
                `SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant, request_seq AS "requestSeq",
                        ${iso('pull_requested_at')} AS "requestedAt"
                 FROM nango_sync_state
                 WHERE request_seq > done_seq AND status <> 'gone' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
                 ORDER BY pull_requested_at NULLS FIRST`,
                [now],
            );
            return res.rows.map((r) => ({ ...r, requestSeq: Number(r.requestSeq) }));
        },

        async listActiveKeys() {
            const res = await pool.query<SyncKey>(
                `SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant
                 FROM nango_sync_state WHERE status <> 'gone'`,
            );
            return res.rows;
        },

        async listKeyStatus(only, options): Promise<KeyStatus[]> {
            const counted = options?.counts !== false;
            const filter = only ? 'WHERE s.provider_config_key = $1 AND s.connection_id = $2 AND s.model = $3 AND s.variant = $4' : '';
            const res = await pool.query<KeyStatus>(
                `SELECT s.provider_config_key AS "providerConfigKey", s.connection_id AS "connectionId", s.model, s.variant, s.status, s.cursor,
                    s.request_seq::float8 AS "requestSeq", s.done_seq::float8 AS "doneSeq", ${iso('s.pull_requested_at')} AS "pullRequestedAt",
                    ${iso('s.pull_started_at')} AS "pullStartedAt", ${iso('s.last_success_at')} AS "lastSuccessAt", ${iso('s.next_attempt_at')} AS "nextAttemptAt",
                    s.last_error AS "lastError", s.last_error_code AS "lastErrorCode", s.consecutive_failures AS "consecutiveFailures",
                    s.nango_sync_error AS "nangoSyncError", s.records_pulled_total::float8 AS "recordsPulledTotal",
                    coalesce(r.live, 0)::float8 AS "liveRows", coalesce(r.deleted, 0)::float8 AS "deletedRows"
                 FROM nango_sync_state s
                 LEFT JOIN (SELECT provider_config_key, connection_id, model, variant,
                               count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted
                            FROM nango_records ${!counted ? 'WHERE false' : only ? 'WHERE provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4' : ''} GROUP BY 1, 2, 3, 4) r
                   USING (provider_config_key, connection_id, model, variant)
                 ${filter}
                 ORDER BY 1, 2, 3, 4`,
                only ? keyArgs(only) : [],
            );
            return res.rows;
        },

        async seedKeys(keys, at) {
            if (keys.length === 0) return 0;
            const res = await pool.query(
                `INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, pull_requested_at, created_at, updated_at)
                 SELECT DISTINCT u.pck, u.conn, u.model, u.variant, 'pending', 1, $5::timestamptz, $5::timestamptz, $5::timestamptz
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(pck, conn, model, variant)
                 ON CONFLICT DO NOTHING`,
                [keys.map((k) => k.providerConfigKey), keys.map((k) => k.connectionId), keys.map((k) => k.model), keys.map((k) => k.variant), at],
            );
            return res.rowCount ?? 0;
        },

        async requestResync(key, sweep, at) {
            await store.requestPulls([key], at);
            await pool.query(
                `UPDATE nango_sync_state SET cursor = NULL, resync_from = $6, resync_sweep = $5, updated_at = $6 WHERE ${KEY_WHERE}`,
                [...keyArgs(key), sweep, at],
            );
        },

        async sweep(key, from, deletes, at) {
            const where = `provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4 AND synced_at < $5`;
            const client = pulls.get(keyString(key)) ?? pool;
            const res =
                deletes === 'hard'
                    ? await client.query(`DELETE FROM nango_records WHERE ${where}`, [...keyArgs(key), from])
                    : await client.query(`UPDATE nango_records SET deleted_at = $6, last_action = 'DELETED', synced_at = $6 WHERE ${where} AND deleted_at IS NULL`, [...keyArgs(key), from, at]);
            return res.rowCount ?? 0;
        },

        async notifyChannel(channel, payload) {
            await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
        },

        async startPull(key, at): Promise<PullStart | null> {
            const client = await pool.connect();
            try {
                // Held, this connection commits the pull's bookkeeping without waiting for the WAL
                // flush (synchronousCommit.ts); pages set it back per transaction (recordWriter.ts).
                const locked = await client.query<{ ok: boolean }>(
                    `SELECT ok, CASE WHEN ok THEN ${SKIP_COMMIT_FLUSH} END FROM (SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok) l`,
                    [lockKey(key)],
                );
                if (!locked.rows[0]?.ok) {
                    client.release();
                    return null;
                }
                pulls.set(keyString(key), client);
                const res = await client.query<{ cursor: string | null; requestSeq: string; consecutiveFailures: number; resyncFrom: string | null; resyncSweep: boolean }>(
                    `INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, pull_started_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'running', $5, $5, $5)
                     ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
                        status = 'running', pull_started_at = excluded.pull_started_at, updated_at = excluded.updated_at
                     RETURNING cursor, request_seq AS "requestSeq", consecutive_failures AS "consecutiveFailures", ${iso('resync_from')} AS "resyncFrom", resync_sweep AS "resyncSweep"`,
                    [...keyArgs(key), at],
                );
                const row = res.rows[0]!;
                return { cursor: row.cursor, requestSeq: Number(row.requestSeq), consecutiveFailures: row.consecutiveFailures, resyncFrom: row.resyncFrom, resyncSweep: row.resyncSweep };
            } catch (err) {
                if (pulls.get(keyString(key)) === client) await store.releasePull(key);
                else client.release();
                throw err;
            }
        },

        async releasePull(key) {
            const ks = keyString(key);
            const client = pulls.get(ks);
            if (!client) return;
            pulls.delete(ks);
            try {
                await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0)), ${restoreCommitFlush(false)}`, [lockKey(key)]);
                client.release();
            } catch (err) {
                // A broken connection: destroy it, which ends the session and so the lock.
                client.release(err as Error);
            }
        },

        async commitPage(key, page: PageCommit): Promise<PageResult> {
            const client = pulls.get(keyString(key));
            if (!client) throw new Error('commitPage without a claimed pull.');
            return writePage(client, key, page);
        },

        async finishPull(key, result) {
            await (pulls.get(keyString(key)) ?? pool).query(
                `UPDATE nango_sync_state SET
                    status = CASE WHEN request_seq > $5 THEN 'pending' ELSE 'ok' END,
                    done_seq = greatest(done_seq, $5), last_success_at = $6, last_error = NULL, last_error_code = NULL,
                    next_attempt_at = NULL, consecutive_failures = 0, last_pull_records = $7, last_pull_pages = $8, updated_at = $6,
                    resync_sweep = CASE WHEN resync_from <= $9 THEN false ELSE resync_sweep END,
                    resync_from = CASE WHEN resync_from <= $9 THEN NULL ELSE resync_from END
                 WHERE ${KEY_WHERE}`,
                [...keyArgs(key), result.requestSeq, result.at, result.records, result.pages, result.startedAt],
            );
        },

        async failPull(key, failure) {
            await (pulls.get(keyString(key)) ?? pool).query(
                `UPDATE nango_sync_state SET status = 'failed', last_error = $5, last_error_code = $6,
                    consecutive_failures = consecutive_failures + 1, next_attempt_at = $7,
                    request_seq = greatest(request_seq, done_seq + 1), updated_at = $8
                 WHERE ${KEY_WHERE}`,
                [...keyArgs(key), failure.error, failure.code, failure.nextAttemptAt, failure.at],
            );
        },

        async markKeyGone(key, reason, at) {
            await (pulls.get(keyString(key)) ?? pool).query(
                `UPDATE nango_sync_state SET status = 'gone', gone_at = $5, last_error = $6, last_error_code = 'unknown_connection', done_seq = request_seq, updated_at = $5
                 WHERE ${KEY_WHERE}`,
                [...keyArgs(key), at, reason],
            );
        },

        async abandonPull(key, at) {
            await (pulls.get(keyString(key)) ?? pool).query(
                `UPDATE nango_sync_state SET status = 'pending', request_seq = greatest(request_seq, done_seq + 1), updated_at = $5
                 WHERE ${KEY_WHERE} AND status = 'running'`,
                [...keyArgs(key), at],
            );
        },

        async recoverInterruptedPulls(at) {
            // Only keys no live daemon holds: a running key whose lock is free was orphaned by a crash.
            const res = await pool.query<SyncKey>(
                `SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant FROM nango_sync_state WHERE status = 'running'`,
            );
            let n = 0;
            for (const key of res.rows) {
                const claimed = await store.startPull(key, at);
                if (!claimed) continue;
                try {
                    await store.abandonPull(key, at);
                    n++;
                } finally {
                    await store.releasePull(key);
                }
            }
            return n;
        },

        async claimLease(name, holder, now, expiresAt) {
            const row = await one(
                `INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE nango_mirror_leases.expires_at <= $4 OR nango_mirror_leases.holder = excluded.holder
                 RETURNING name`,
                [name, holder, expiresAt, now],
            );
            return row !== undefined;
        },

        async releaseLeases(holder) {
            await pool.query('DELETE FROM nango_mirror_leases WHERE holder = $1', [holder]);
        },

        async applyViews(views, indexes) {
            const client = await pool.connect();
            try {
                await applyPostgresViews(client, options.schema, views, indexes);
            } finally {
                client.release();
            }
        },

        async close() {
            for (const client of pulls.values()) client.release(new Error('store closed'));
            pulls.clear();
            await pool.end();
        },
    };
    return store;
}
