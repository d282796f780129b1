import type { ConnectionRow, ConnectionSeen, PullRequests } from '../store.js';
import type { SqliteConnection } from './connection.js';
import { withChangeAction } from './changeLog.js';

// In an upsert's SET, bare names are the stored row and `excluded.` the proposed one. What every
// pull request does to a known key: one more request, announced (a webhook, the admin API or the
// CLI asked for it: its pull may spend the API budget's reserve), due now whatever backoff it was in, revived if
// gone, and a successful sync webhook supersedes the last failed one.
const REQUEST_SET = `
    request_seq = request_seq + 1,
    announced_seq = request_seq + 1,
    pull_requested_at = excluded.pull_requested_at,
    next_attempt_at = NULL,
    status = CASE WHEN status IN ('running', 'failed') THEN status ELSE 'pending' END,
    gone_at = NULL,
    nango_sync_error = NULL,
    nango_sync_error_at = NULL,
    updated_at = excluded.updated_at`;

// Positional parameters (the key, then `at` three times) for the statement run per webhook: named
// ones cost a few µs more a call in better-sqlite3.
const REQUEST_PULL = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, announced_seq, pull_requested_at, created_at, updated_at)
VALUES (?, ?, ?, ?, 'pending', 1, 1, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET ${REQUEST_SET}`;

// One statement: a claim sees the request and the reset cursor together, or neither.
const REQUEST_RESYNC = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, announced_seq, pull_requested_at, created_at, updated_at, cursor, resync_from, resync_sweep)
VALUES (?, ?, ?, ?, 'pending', 1, 1, ?, ?, ?, NULL, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET ${REQUEST_SET},
    cursor = NULL,
    resync_from = excluded.resync_from,
    resync_sweep = excluded.resync_sweep`;

const SEED = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, request_seq, pull_requested_at, created_at, updated_at)
VALUES (?, ?, ?, ?, 'pending', 1, ?, ?, ?)
ON CONFLICT DO NOTHING`;

const NANGO_SYNC_ERROR = `
INSERT INTO nango_sync_state (provider_config_key, connection_id, model, variant, status, nango_sync_error, nango_sync_error_at, created_at, updated_at)
VALUES (?, ?, ?, ?, 'ok', ?, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant) DO UPDATE SET
    nango_sync_error = excluded.nango_sync_error, nango_sync_error_at = excluded.nango_sync_error_at, updated_at = excluded.updated_at`;

const NANGO_SYNC_STATUS = `
UPDATE nango_sync_state SET nango_sync_status = ?, nango_finished_at = ?, nango_record_count = ?, nango_status_at = ?, updated_at = ?
WHERE provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?`;

const CONNECTION_GONE = `
UPDATE nango_sync_state
SET status = 'gone', gone_at = ?, last_error = ?, last_error_code = 'connection_deleted', done_seq = request_seq, updated_at = ?
WHERE provider_config_key = ? AND connection_id = ?`;

// A field Nango did not send (null) keeps the stored value; `deleted_at` is the proposed one: NULL
// for a listing, creation or override (the connection exists), the time of a deletion webhook.
const CONNECTION_UPSERT = `
INSERT INTO nango_connections (provider_config_key, connection_id, provider, tags, end_user_id, organization_id, created_at, first_seen_at, last_seen_at, deleted_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id) DO UPDATE SET
    provider = COALESCE(excluded.provider, provider),
    tags = COALESCE(excluded.tags, tags),
    end_user_id = COALESCE(excluded.end_user_id, end_user_id),
    organization_id = COALESCE(excluded.organization_id, organization_id),
    created_at = COALESCE(excluded.created_at, created_at),
    last_seen_at = excluded.last_seen_at,
    deleted_at = excluded.deleted_at`;

const DELETED_CONNECTIONS = `SELECT provider_config_key, connection_id FROM nango_connections WHERE deleted_at IS NOT NULL AND deleted_at < ?`;
const PURGE_RECORDS = `DELETE FROM nango_records WHERE (provider_config_key, connection_id) IN (${DELETED_CONNECTIONS})`;
const PURGE_KEYS = `DELETE FROM nango_sync_state WHERE (provider_config_key, connection_id) IN (${DELETED_CONNECTIONS})`;

const CONNECTION_LIST = `
SELECT provider_config_key, connection_id, provider, tags, end_user_id, organization_id, created_at, first_seen_at, last_seen_at, deleted_at
FROM nango_connections WHERE (? IS NULL OR provider_config_key = ?)
ORDER BY provider_config_key, connection_id`;

interface StoredConnection {
    provider_config_key: string;
    connection_id: string;
    provider: string | null;
    tags: string | null;
    end_user_id: string | null;
    organization_id: string | null;
    created_at: string | null;
    first_seen_at: string;
    last_seen_at: string;
    deleted_at: string | null;
}

const connectionArgs = (c: ConnectionSeen, at: string, deletedAt: string | null) => [
    c.providerConfigKey,
    c.connectionId,
    c.provider,
    c.tags === null ? null : JSON.stringify(c.tags),
    c.endUserId,
    c.organizationId,
    c.createdAt,
    at,
    at,
    deletedAt,
];

function toConnectionRow(r: StoredConnection, tags: Record<string, unknown> | null): ConnectionRow {
    return {
        providerConfigKey: r.provider_config_key,
        connectionId: r.connection_id,
        provider: r.provider,
        tags,
        endUserId: r.end_user_id,
        organizationId: r.organization_id,
        createdAt: r.created_at,
        firstSeenAt: r.first_seen_at,
        lastSeenAt: r.last_seen_at,
        deletedAt: r.deleted_at,
    };
}

export function sqlitePullRequests(conn: SqliteConnection): PullRequests {
    const { db } = conn;
    const requestPull = conn.statement(REQUEST_PULL);
    const requestResync = conn.statement(REQUEST_RESYNC);
    const seed = conn.statement(SEED);
    const nangoSyncError = conn.statement(NANGO_SYNC_ERROR);
    const connectionGone = conn.statement(CONNECTION_GONE);
    const nangoSyncStatus = conn.statement(NANGO_SYNC_STATUS);
    const connectionUpsert = conn.statement(CONNECTION_UPSERT);
    const connectionList = conn.statement<unknown[], StoredConnection>(CONNECTION_LIST);
    const purgeRecords = conn.statement(PURGE_RECORDS);
    const purgeKeys = conn.statement(PURGE_KEYS);

    return {
        async requestPulls(keys, at, onCommitted) {
            if (keys.length === 0) return;
            const statement = requestPull();
            // The 2xx waits for the fsync, but the event loop does not: the commit skips it and the
            // WAL flush runs it off the main thread, shared by every request committed meanwhile.
            conn.withoutFsync(() =>
                db.transaction(() => {
                    for (const k of keys) statement.run(k.providerConfigKey, k.connectionId, k.model, k.variant, at, at, at);
                })(),
            );
            onCommitted?.();
            await conn.flush();
        },

        async requestResync(key, sweep, at) {
            await conn.durably(() => requestResync().run(key.providerConfigKey, key.connectionId, key.model, key.variant, at, at, at, at, sweep ? 1 : 0));
        },

        async seedKeys(keys, at) {
            const statement = seed();
            let added = 0;
            await conn.durably(() =>
                db.transaction(() => {
                    for (const k of keys) added += statement.run(k.providerConfigKey, k.connectionId, k.model, k.variant, at, at, at).changes;
                })(),
            );
            return added;
        },

        async recordNangoSyncError(keys, error, at) {
            const statement = nangoSyncError();
            await conn.durably(() =>
                db.transaction(() => {
                    for (const k of keys) statement.run(k.providerConfigKey, k.connectionId, k.model, k.variant, error, at, at, at);
                })(),
            );
        },

        async recordNangoSyncStatus(observed, at) {
            const statement = nangoSyncStatus();
            await conn.durably(() =>
                db.transaction(() => {
                    for (const o of observed) {
                        const k = o.key;
                        statement.run(o.status, o.finishedAt, o.recordCount, at, at, k.providerConfigKey, k.connectionId, k.model, k.variant);
                    }
                })(),
            );
        },

        async markConnectionGone(providerConfigKey, connectionId, reason, at) {
            return conn.durably(() => connectionGone().run(at, reason, at, providerConfigKey, connectionId).changes);
        },

        async upsertConnections(connections, at) {
            if (connections.length === 0) return;
            const statement = connectionUpsert();
            await conn.durably(() =>
                db.transaction(() => {
                    for (const c of connections) statement.run(...connectionArgs(c, at, null));
                })(),
            );
        },

        async recordConnectionEvent(event, at) {
            const deletion = event.operation === 'deletion';
            return conn.durably(() =>
                db.transaction(() => {
                    connectionUpsert().run(...connectionArgs(event, at, deletion ? at : null));
                    return deletion ? connectionGone().run(at, event.reason, at, event.providerConfigKey, event.connectionId).changes : 0;
                })(),
            );
        },

        async purgeDeletedConnections(deletedBefore) {
            // The rows it deletes are logged `swept`, in its transaction.
            return conn.durably(() => withChangeAction(db, 'swept', () => ({ records: purgeRecords().run(deletedBefore).changes, keys: purgeKeys().run(deletedBefore).changes })));
        },

        async listConnections(filter = {}) {
            const pck = filter.providerConfigKey ?? null;
            return connectionList()
                .all(pck, pck)
                .map((r) => toConnectionRow(r, r.tags === null ? null : (JSON.parse(r.tags) as Record<string, unknown>)));
        },
    };
}
