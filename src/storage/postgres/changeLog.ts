import type pg from 'pg';
import type { ChangeAction, ChangeLog, ChangeQuery, ChangeRow } from '../store.js';
import { iso } from './pool.js';

/**
 * The change log on Postgres. Rows are written by statement-level triggers on `nango_records`
 * (drizzle/postgres/0009), which take a transaction-level advisory lock right before they draw
 * sequence numbers; it is held until the commit, so sequence numbers become visible in commit
 * order even with several replicas writing: a reader that has seen seq N never later sees a smaller
 * one appear. The lock is taken only by statements that log something, late in the page's
 * transaction (pageWriter.ts writes the cursor first), and is released by the commit.
 */
export function postgresChangeLog(pool: pg.Pool): ChangeLog {
    return {
        async readChanges(query) {
            const { sql, args } = readQuery(query);
            const { rows } = await pool.query<ChangeRow & { seq: string }>(sql, args);
            return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
        },
        async changeBounds() {
            const { rows } = await pool.query<{ pruned: string; latest: string | null }>(
                'SELECT pruned_through AS pruned, (SELECT max(seq) FROM nango_changes) AS latest FROM nango_mirror_change_log WHERE id = 1',
            );
            const prunedThrough = Number(rows[0]?.pruned ?? 0);
            return { prunedThrough, latest: Math.max(Number(rows[0]?.latest ?? 0), prunedThrough) };
        },
        async pruneChanges({ olderThan, maxRows, batch }) {
            let total = 0;
            for (;;) {
                const { rows } = await pool.query<{ n: number }>(PRUNE, [batch, olderThan, maxRows]);
                const deleted = rows[0]?.n ?? 0;
                total += deleted;
                if (deleted < batch) return total;
            }
        },
        async setChangeLogEnabled(enabled) {
            await pool.query('UPDATE nango_mirror_change_log SET enabled = $1 WHERE id = 1', [enabled]);
        },
        async notifyPosition(subscriber) {
            const { rows } = await pool.query<{ seq: string }>('SELECT seq FROM nango_mirror_notify_positions WHERE subscriber = $1', [subscriber]);
            return Number(rows[0]?.seq ?? 0);
        },
        async advanceNotifyPosition(subscriber, seq, at) {
            await pool.query(
                `INSERT INTO nango_mirror_notify_positions (subscriber, seq, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (subscriber) DO UPDATE SET seq = greatest(nango_mirror_notify_positions.seq, excluded.seq), updated_at = excluded.updated_at`,
                [subscriber, seq, at],
            );
        },
    };
}

// One batch, one statement (so one transaction): the cut is the last row, among the oldest
// `batch`, that is too old or beyond maxRows (sequence numbers a rolled-back transaction drew are
// never used, so the log then keeps fewer than maxRows). Rows go as a prefix of seq, so
// `pruned_through` says exactly what a reader missed.
const PRUNE = `
WITH latest AS (SELECT coalesce(max(seq), 0) AS s FROM nango_changes),
cut AS (
    SELECT max(seq) AS s FROM (SELECT seq, committed_at FROM nango_changes ORDER BY seq LIMIT $1) o
    WHERE committed_at < $2::timestamptz OR seq <= (SELECT s FROM latest) - $3
),
gone AS (DELETE FROM nango_changes WHERE seq <= (SELECT s FROM cut) RETURNING 1),
mark AS (UPDATE nango_mirror_change_log SET pruned_through = greatest(pruned_through, (SELECT s FROM cut)) WHERE id = 1 AND (SELECT s FROM cut) IS NOT NULL)
SELECT count(*)::int AS n FROM gone`;

const COLUMNS = `seq, provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant,
    record_id AS "recordId", action, ${iso('last_modified_at')} AS "lastModifiedAt", ${iso('committed_at')} AS "committedAt"`;

/** Filters as parameters; a reader of one key seeks through the `(…, model, seq)` index. */
function readQuery(query: ChangeQuery): { sql: string; args: unknown[] } {
    const where = ['seq > $1'];
    const args: unknown[] = [query.after];
    for (const [column, value] of [
        ['provider_config_key', query.providerConfigKey],
        ['connection_id', query.connectionId],
        ['model', query.model],
    ] as const) {
        if (value === undefined) continue;
        args.push(value);
        where.push(`${column} = $${args.length}`);
    }
    args.push(query.limit);
    return { sql: `SELECT ${COLUMNS} FROM nango_changes WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $${args.length}`, args };
}

/** SQL that makes the change-log triggers log `action` for the rest of the transaction. */
export const changeActionSql = (action: ChangeAction) => `SELECT set_config('nango_mirror.change_action', '${action}', true)`;
