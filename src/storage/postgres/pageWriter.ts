import type pg from 'pg';
import type { RecordRow } from '../../domain/recordRow.js';
import type { SyncKey } from '../../domain/syncKey.js';
import { dateToMicroIso } from '../../domain/timestamps.js';
import type { PageCommit, PageResult } from '../store.js';
import { restoreCommitFlush } from './synchronousCommit.js';

// One statement per page: the rows travel as arrays and `ROWS FROM` zips them back into rows, so a
// page costs one round trip whatever its size. The payloads travel as one JSON array
// (payloadArray), parsed once by the server (`jsonb_array_elements`), not as a text[]: its literal
// escaped every quote of every payload on the client and unescaped them on the server, before each
// was parsed as jsonb (the page writer alone, 50 pages of 1,000, 3 rounds: client CPU 5.2-6.7
// against 6.0-10.8 ms a page, the backend's 16.8-19.0 against 18.2-27.0). keepData is not a
// column, so the update derives it from what was inserted: a pruned row, or a delete whose data is
// only {id}.
const UPSERT = `
WITH written AS (
    INSERT INTO nango_records AS r (provider_config_key, connection_id, model, variant, id, data, last_action,
        deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
    SELECT $1, $2, $3, $4, u.id, u.data, u.last_action, u.deleted_at::timestamptz, u.pruned_at::timestamptz,
        u.first_seen_at::timestamptz, u.last_modified_at::timestamptz, u.cursor, $5::timestamptz
    FROM ROWS FROM (unnest($6::text[]), jsonb_array_elements($7::jsonb), unnest($8::text[]), unnest($9::text[]), unnest($10::text[]), unnest($11::text[]), unnest($12::text[]), unnest($13::text[]))
        AS u(id, data, last_action, deleted_at, pruned_at, first_seen_at, last_modified_at, cursor)
    ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
        data = CASE
            WHEN excluded.pruned_at IS NOT NULL
              OR (excluded.last_action = 'DELETED' AND excluded.data = jsonb_build_object('id', excluded.id))
            THEN r.data ELSE excluded.data END,
        last_action = excluded.last_action,
        deleted_at = excluded.deleted_at,
        pruned_at = excluded.pruned_at,
        first_seen_at = excluded.first_seen_at,
        last_modified_at = excluded.last_modified_at,
        cursor = excluded.cursor,
        synced_at = excluded.synced_at
    WHERE excluded.last_modified_at >= r.last_modified_at
    RETURNING r.last_action
)
SELECT count(*)::int AS written, (count(*) FILTER (WHERE last_action = 'DELETED'))::int AS deleted FROM written`;

const HARD_DELETE = `
WITH gone AS (
    DELETE FROM nango_records r
    USING unnest($5::text[], $6::text[]) AS u(id, last_modified_at)
    WHERE r.provider_config_key = $1 AND r.connection_id = $2 AND r.model = $3 AND r.variant = $4
      AND r.id = u.id AND r.last_modified_at <= u.last_modified_at::timestamptz
    RETURNING 1
)
SELECT count(*)::int AS n FROM gone`;

const ADVANCE_CURSOR = `
UPDATE nango_sync_state
SET cursor = CASE WHEN resync_from > $8::timestamptz THEN cursor ELSE $5 END,
    records_pulled_total = records_pulled_total + $6, updated_at = $7
WHERE provider_config_key = $1 AND connection_id = $2 AND model = $3 AND variant = $4`;

/**
 * One page's rows and its cursor in one transaction, on the connection that holds the key's lock.
 * With `notifyChannel`, the transaction also NOTIFYs it with the page's notice: Postgres delivers a
 * NOTIFY at the commit, never for a page that rolls back, and a crash cannot fall between the two.
 */
export async function writePage(client: pg.PoolClient, key: SyncKey, page: PageCommit, notifyChannel?: string): Promise<PageResult> {
    const base = [key.providerConfigKey, key.connectionId, key.model, key.variant];
    // Postgres refuses to touch one row twice in a statement; within a page the later copy is newer.
    const byId = new Map<string, RecordRow>();
    for (const row of page.rows) byId.set(row.id, row);
    const all = [...byId.values()];
    const removed = page.deletes === 'hard' ? all.filter((r) => r.lastAction === 'DELETED') : [];
    const upserts = page.deletes === 'hard' ? all.filter((r) => r.lastAction !== 'DELETED') : all;
    // A page is durable before its commit returns, whatever the pull's connection does for its bookkeeping.
    await client.query(`BEGIN; SELECT ${restoreCommitFlush(true)}`);
    try {
        // Same transaction: the cursor may never run ahead of the rows. Written first: the rows'
        // statements take the change log's lock (changeLog.ts), held to the commit, so the fewer
        // round trips after them, the shorter other replicas' pages wait for it.
        const advanced = await client.query(ADVANCE_CURSOR, [...base, page.cursor, page.rows.length, page.syncedAt, page.pullStartedAt]);
        if (advanced.rowCount !== 1) throw new Error('The sync state row of this key is missing; the page was rolled back.');
        let written = 0;
        let deleted = 0;
        if (upserts.length > 0) {
            const res = await client.query<{ written: number; deleted: number }>(UPSERT, [
                ...base,
                page.syncedAt,
                upserts.map((r) => r.id),
                payloadArray(upserts),
                upserts.map((r) => r.lastAction),
                upserts.map((r) => r.deletedAt),
                upserts.map((r) => r.prunedAt),
                upserts.map((r) => r.firstSeenAt),
                upserts.map((r) => r.lastModifiedAt),
                upserts.map((r) => r.cursor),
            ]);
            written = res.rows[0]!.written;
            deleted = res.rows[0]!.deleted;
        }
        let hardDeleted = 0;
        if (removed.length > 0) {
            const res = await client.query<{ n: number }>(HARD_DELETE, [...base, removed.map((r) => r.id), removed.map((r) => r.lastModifiedAt)]);
            hardDeleted = res.rows[0]!.n;
        }
        const result = { upserted: written - deleted, deleted: deleted + hardDeleted, skipped: upserts.length - written };
        if (notifyChannel !== undefined) await client.query('SELECT pg_notify($1, $2)', [notifyChannel, pageNotice(key, result, page.cursor)]);
        await client.query('COMMIT');
        return result;
    } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
    }
}

/**
 * The page's payloads as one JSON array in jsonb's binary wire form (a version byte, 1, then the
 * text: Postgres's jsonb_recv), a Buffer, which node-postgres sends as it is. The payloads mostly
 * arrive as byte views of Nango's body (the page worker checked they are JSON and UTF-8), so they
 * are copied, never decoded: as text each was decoded to a string, the strings joined, and the
 * whole encoded again to send, on the main thread, which waits for this before each page's statement
 * (the ingest bench's daemon profile: 1.4 s of its main thread in garbage collection for 200 pages).
 */
export function payloadArray(rows: readonly RecordRow[]): Buffer {
    let size = 3 + Math.max(rows.length - 1, 0);
    for (const r of rows) size += typeof r.data === 'string' ? Buffer.byteLength(r.data) : r.data.byteLength;
    const out = Buffer.allocUnsafeSlow(size);
    out[0] = 1;
    out[1] = 0x5b; // [
    let at = 2;
    for (let i = 0; i < rows.length; i++) {
        if (i > 0) out[at++] = 0x2c; // ,
        const data = rows[i]!.data;
        if (typeof data === 'string') at += out.write(data, at);
        else {
            out.set(data, at);
            at += data.byteLength;
        }
    }
    out[at] = 0x5d; // ]
    return out;
}

/**
 * The NOTIFY payload (notify/notice.ts `Notice`, same fields and order): the page's counts, its
 * cursor, and `committedAt` taken just before the commit. Postgres refuses payloads of 8000 bytes
 * or more; a key's names and a cursor stay far below.
 */
function pageNotice(key: SyncKey, result: PageResult, cursor: string): string {
    const { providerConfigKey, connectionId, model, variant } = key;
    return JSON.stringify({ providerConfigKey, connectionId, model, variant, upserted: result.upserted, deleted: result.deleted, cursor, committedAt: dateToMicroIso(new Date()) });
}
