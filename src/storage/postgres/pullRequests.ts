import type pg from 'pg';
import type { ConnectionRow, ConnectionSeen, PullRequests } from '../store.js';
import { changeActionSql } from './changeLog.js';
import { iso, keyArgs, keyArrays } from './pool.js';

// What every pull request does to a known key: announced (a webhook, the admin API or the CLI asked
// for it: its pull may spend the API budget's reserve), one more request (or `excluded.request_seq` more, for
// a batch naming it several times), due now whatever backoff it was in, revived if gone, and a
// successful sync webhook supersedes the last failed one.
const REQUEST_SET = `
    request_seq = nango_sync_state.request_seq + excluded.request_seq,
    announced_seq = nango_sync_state.request_seq + excluded.request_seq,
    pull_requested_at = excluded.pull_requested_at,
    next_attempt_at = NULL,
    status = CASE WHEN nango_sync_state.status IN ('running', 'failed') THEN nango_sync_state.status ELSE 'pending' END,
    gone_at = NULL,
    nango_sync_error = NULL,
    nango_sync_error_at = NULL,
    updated_at = excluded.updated_at`;

const REQUEST_PULLS = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, announced_seq, pull_requested_at, created_at, updated_at)
SELECT k.pck, k.conn, k.model, k.variant, 'pending', k.n, k.n, $5, $5, $5
FROM (SELECT pck, conn, model, variant, count(*) AS n
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(pck, conn, model, variant)
      GROUP BY 1, 2, 3, 4) k
-- Rows locked in one order by every batch (they run concurrently, here and in other replicas):
-- two batches naming the same keys cannot deadlock.
ORDER BY k.pck, k.conn, k.model, k.variant
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET ${REQUEST_SET}`;

// One statement: a pull claiming the key concurrently waits for its row lock, then sees the request
// and the reset cursor together, or claimed before and leaves the resync pending (resync_from).
const REQUEST_RESYNC = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, announced_seq, pull_requested_at, created_at, updated_at, cursor, resync_from, resync_sweep)
VALUES ($1, $2, $3, $4, 'pending', 1, 1, $5, $5, $5, NULL, $5, $6)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET ${REQUEST_SET},
    cursor = NULL,
    resync_from = excluded.resync_from,
    resync_sweep = excluded.resync_sweep`;

const SEED = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, pull_requested_at, created_at, updated_at)
SELECT DISTINCT u.pck, u.conn, u.model, u.variant, 'pending', 1, $5::timestamptz, $5::timestamptz, $5::timestamptz
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(pck, conn, model, variant)
ON CONFLICT DO NOTHING`;

const NANGO_SYNC_ERROR = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, nango_sync_error, nango_sync_error_at, created_at, updated_at)
SELECT DISTINCT u.pck, u.conn, u.model, u.variant, 'ok', $5, $6::timestamptz, $6::timestamptz, $6::timestamptz
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(pck, conn, model, variant)
ORDER BY 1, 2, 3, 4
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
    nango_sync_error = excluded.nango_sync_error, nango_sync_error_at = excluded.nango_sync_error_at, updated_at = excluded.updated_at`;

const NANGO_SYNC_STATUS = `
UPDATE nango_sync_state s SET nango_sync_status = u.status, nango_finished_at = u.finished_at::timestamptz, nango_record_count = u.record_count::bigint, nango_status_at = $8, updated_at = $8
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(pck, conn, model, variant, status, finished_at, record_count)
WHERE s.provider_config_key = u.pck AND s.connection_id = u.conn AND s.model = u.model AND s.variant = u.variant`;

const CONNECTION_GONE = `
UPDATE nango_sync_state SET status = 'gone', gone_at = $3, last_error = $4, last_error_code = 'connection_deleted', done_seq = request_seq, updated_at = $3
WHERE provider_config_key = $1 AND connection_id = $2`;

// As on SQLite: a field Nango did not send (null) keeps the stored value; `deleted_at` is the
// proposed one. One row per connection (a batch naming one twice keeps the first), locked in one
// order by every batch, so concurrent batches (replicas) cannot deadlock.
const CONNECTION_UPSERT = `
INSERT INTO nango_connections (provider_config_key, connection_id, provider, tags, end_user_id, organization_id, created_at, first_seen_at, last_seen_at, deleted_at)
SELECT DISTINCT ON (u.pck, u.conn) u.pck, u.conn, u.provider, u.tags::jsonb, u.end_user_id, u.organization_id, u.created_at::timestamptz, $8::timestamptz, $8::timestamptz, $9::timestamptz
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS u(pck, conn, provider, tags, end_user_id, organization_id, created_at, n)
ORDER BY u.pck, u.conn, u.n
ON CONFLICT (provider_config_key, connection_id) DO UPDATE SET
    provider = COALESCE(excluded.provider, nango_connections.provider),
    tags = COALESCE(excluded.tags, nango_connections.tags),
    end_user_id = COALESCE(excluded.end_user_id, nango_connections.end_user_id),
    organization_id = COALESCE(excluded.organization_id, nango_connections.organization_id),
    created_at = COALESCE(excluded.created_at, nango_connections.created_at),
    last_seen_at = excluded.last_seen_at,
    deleted_at = excluded.deleted_at`;

// One statement, one snapshot: the records and the keys of the same connections go together.
const PURGE = `
WITH gone AS (SELECT provider_config_key, connection_id FROM nango_connections WHERE deleted_at IS NOT NULL AND deleted_at < $1::timestamptz),
records AS (DELETE FROM nango_records r USING gone g WHERE r.provider_config_key = g.provider_config_key AND r.connection_id = g.connection_id RETURNING 1),
keys AS (DELETE FROM nango_sync_state s USING gone g WHERE s.provider_config_key = g.provider_config_key AND s.connection_id = g.connection_id RETURNING 1)
SELECT (SELECT count(*) FROM records)::int AS records, (SELECT count(*) FROM keys)::int AS keys`;

const CONNECTION_LIST = `
SELECT provider_config_key, connection_id, provider, tags, end_user_id, organization_id,
    ${iso('created_at')} AS created_at, ${iso('first_seen_at')} AS first_seen_at, ${iso('last_seen_at')} AS last_seen_at, ${iso('deleted_at')} AS deleted_at
FROM nango_connections WHERE ($1::text IS NULL OR provider_config_key = $1)
ORDER BY provider_config_key COLLATE "C", connection_id COLLATE "C"`;

const connectionArrays = (list: readonly ConnectionSeen[]) => [
    list.map((c) => c.providerConfigKey),
    list.map((c) => c.connectionId),
    list.map((c) => c.provider),
    list.map((c) => (c.tags === null ? null : JSON.stringify(c.tags))),
    list.map((c) => c.endUserId),
    list.map((c) => c.organizationId),
    list.map((c) => c.createdAt),
];

export function postgresPullRequests(pool: pg.Pool): PullRequests {
    return {
        async requestPulls(keys, at, onCommitted) {
            if (keys.length === 0) return;
            await pool.query(REQUEST_PULLS, [...keyArrays(keys), at]);
            onCommitted?.();
        },
        async requestResync(key, sweep, at) {
            await pool.query(REQUEST_RESYNC, [...keyArgs(key), at, sweep]);
        },
        async seedKeys(keys, at) {
            if (keys.length === 0) return 0;
            return (await pool.query(SEED, [...keyArrays(keys), at])).rowCount ?? 0;
        },
        async recordNangoSyncError(keys, error, at) {
            if (keys.length === 0) return;
            await pool.query(NANGO_SYNC_ERROR, [...keyArrays(keys), error, at]);
        },
        async recordNangoSyncStatus(observed, at) {
            if (observed.length === 0) return;
            await pool.query(NANGO_SYNC_STATUS, [
                ...keyArrays(observed.map((o) => o.key)),
                observed.map((o) => o.status),
                observed.map((o) => o.finishedAt),
                observed.map((o) => (o.recordCount === null ? null : String(o.recordCount))),
                at,
            ]);
        },

        async markConnectionGone(providerConfigKey, connectionId, reason, at) {
            return (await pool.query(CONNECTION_GONE, [providerConfigKey, connectionId, at, reason])).rowCount ?? 0;
        },

        async upsertConnections(connections, at) {
            if (connections.length === 0) return;
            await pool.query(CONNECTION_UPSERT, [...connectionArrays(connections), at, null]);
        },

        async recordConnectionEvent(event, at) {
            const deletion = event.operation === 'deletion';
            const client = await pool.connect();
            try {
                await client.query('BEGIN');
                await client.query(CONNECTION_UPSERT, [...connectionArrays([event]), at, deletion ? at : null]);
                const gone = deletion ? ((await client.query(CONNECTION_GONE, [event.providerConfigKey, event.connectionId, at, event.reason])).rowCount ?? 0) : 0;
                await client.query('COMMIT');
                return gone;
            } catch (err) {
                await client.query('ROLLBACK').catch(() => undefined);
                throw err;
            } finally {
                client.release();
            }
        },

        async purgeDeletedConnections(deletedBefore) {
            // The rows it deletes are logged `swept`, in its transaction.
            const client = await pool.connect();
            try {
                await client.query(`BEGIN; ${changeActionSql('swept')}`);
                const { rows } = await client.query<{ records: number; keys: number }>(PURGE, [deletedBefore]);
                await client.query('COMMIT');
                return { records: rows[0]?.records ?? 0, keys: rows[0]?.keys ?? 0 };
            } catch (err) {
                await client.query('ROLLBACK').catch(() => undefined);
                throw err;
            } finally {
                client.release();
            }
        },

        async listConnections(filter = {}) {
            const { rows } = await pool.query<Record<string, unknown>>(CONNECTION_LIST, [filter.providerConfigKey ?? null]);
            return rows.map(
                (r): ConnectionRow => ({
                    providerConfigKey: r['provider_config_key'] as string,
                    connectionId: r['connection_id'] as string,
                    provider: r['provider'] as string | null,
                    tags: r['tags'] as Record<string, unknown> | null,
                    endUserId: r['end_user_id'] as string | null,
                    organizationId: r['organization_id'] as string | null,
                    createdAt: r['created_at'] as string | null,
                    firstSeenAt: r['first_seen_at'] as string,
                    lastSeenAt: r['last_seen_at'] as string,
                    deletedAt: r['deleted_at'] as string | null,
                }),
            );
        },
    };
}
