import type Database from 'better-sqlite3';
import type { ChangeAction, ChangeLog, ChangeQuery, ChangeRow } from '../store.js';
import type { SqliteConnection } from './connection.js';

/**
 * The change log on SQLite. One process writes the file (the writer lock) and SQLite runs one
 * write transaction at a time, so sequence numbers are drawn and committed in the same order: a
 * reader that has seen seq N can never see a smaller one appear later. Rows are written by the page
 * writer (new rows) and by triggers on `nango_records` (updates, deletes: drizzle/sqlite/0010).
 *
 * Only changes on disk are shown. A page commits before its WAL fsync (connection.ts: the next page
 * is written meanwhile), so a reader can see a change a power cut would still take away; the file
 * would then draw the same seq numbers again for other changes, and a reader already past them
 * would skip those for good. So a read first takes the highest seq, and if it is above what is known
 * to be on disk, fsyncs the WAL (joining the daemon's own group commit; a reader in another process,
 * such as `nango-mirror changes`, syncs the file itself: fsync flushes every written page of it),
 * then shows nothing above that seq. A read with nothing new waits for no fsync.
 */
export function sqliteChangeLog(conn: SqliteConnection): ChangeLog {
    const reads = new Map<string, () => Database.Statement<unknown[], ChangeRow>>();
    const latestSeq = conn.statement<[], { latest: number | null }>('SELECT max(seq) AS latest FROM nango_changes');
    /** Every change up to this seq is on disk. */
    let durableThrough = 0;
    /** Resolves once every change up to `seq` (committed) is on disk; at once if already known so. */
    async function makeDurable(seq: number): Promise<void> {
        if (seq <= durableThrough) return;
        await conn.flush();
        durableThrough = Math.max(durableThrough, seq);
    }
    const bounds = conn.statement<[], { prunedThrough: number; latest: number | null }>(
        'SELECT pruned_through AS prunedThrough, (SELECT max(seq) FROM nango_changes) AS latest FROM nango_mirror_change_log WHERE id = 1',
    );
    // The cut: the last row, among the oldest `batch`, that is too old or beyond maxRows. Rows
    // are deleted as a prefix of seq, so `pruned_through` says exactly what a reader missed.
    const cut = conn.statement<[number, string, number], { cut: number | null }>(
        'SELECT max(seq) AS cut FROM (SELECT seq, committed_at FROM nango_changes ORDER BY seq LIMIT ?) WHERE committed_at < ? OR seq <= ?',
    );
    const prune = conn.statement<[number]>('DELETE FROM nango_changes WHERE seq <= ?');
    const watermark = conn.statement<[number]>('UPDATE nango_mirror_change_log SET pruned_through = max(pruned_through, ?) WHERE id = 1');
    const setEnabled = conn.statement<[number]>('UPDATE nango_mirror_change_log SET enabled = ? WHERE id = 1');
    const position = conn.statement<[string], { seq: number }>('SELECT seq FROM nango_mirror_notify_positions WHERE subscriber = ?');
    const advance = conn.statement<[string, number, string]>(
        'INSERT INTO nango_mirror_notify_positions (subscriber, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (subscriber) DO UPDATE SET seq = max(seq, excluded.seq), updated_at = excluded.updated_at',
    );

    return {
        async readChanges(query) {
            const upTo = latestSeq().get()?.latest ?? 0;
            await makeDurable(upTo);
            const { sql, args } = readQuery(query, upTo);
            let statement = reads.get(sql);
            if (!statement) reads.set(sql, (statement = conn.statement<unknown[], ChangeRow>(sql)));
            return statement().all(...args);
        },
        async changeBounds() {
            const row = bounds().get();
            const latest = row?.latest ?? 0;
            await makeDurable(latest);
            const prunedThrough = row?.prunedThrough ?? 0;
            return { prunedThrough, latest: Math.max(latest, prunedThrough) };
        },
        async pruneChanges({ olderThan, maxRows, batch }) {
            let total = 0;
            for (;;) {
                const deleted = await conn.durably(() =>
                    conn.db.transaction(() => {
                        const latest = bounds().get()?.latest ?? 0;
                        const upTo = cut().get(batch, olderThan, latest - maxRows)?.cut ?? null;
                        if (upTo === null) return 0;
                        const n = prune().run(upTo).changes;
                        watermark().run(upTo);
                        return n;
                    })(),
                );
                total += deleted;
                if (deleted < batch) return total;
                // Small transactions, and the event loop (webhooks) between them.
                await new Promise((resolve) => setImmediate(resolve));
            }
        },
        async setChangeLogEnabled(enabled) {
            await conn.durably(() => setEnabled().run(enabled ? 1 : 0));
        },
        async notifyPosition(subscriber) {
            return position().get(subscriber)?.seq ?? 0;
        },
        async advanceNotifyPosition(subscriber, seq, at) {
            await conn.durably(() => advance().run(subscriber, seq, at));
        },
    };
}

const COLUMNS = `seq, provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant,
    record_id AS recordId, action, last_modified_at AS lastModifiedAt, committed_at AS committedAt`;

/**
 * Changes in (`after`, `upTo`]. A reader of one key (integration, connection and model) seeks through the
 * `(provider_config_key, connection_id, model, seq)` index; any other filter walks the log by seq
 * from `after` (the unary `+` keeps SQLite off the index, which would read every change of the
 * integration or connection and sort them), so a follower near the head reads only what is new.
 */
function readQuery(query: ChangeQuery, upTo: number): { sql: string; args: unknown[] } {
    const filters: Array<[string, string | undefined]> = [
        ['provider_config_key', query.providerConfigKey],
        ['connection_id', query.connectionId],
        ['model', query.model],
    ];
    const whole = filters.every(([, v]) => v !== undefined);
    const where = ['seq > ?', 'seq <= ?'];
    const args: unknown[] = [query.after, upTo];
    for (const [column, value] of filters) {
        if (value === undefined) continue;
        where.push(`${whole ? '' : '+'}${column} = ?`);
        args.push(value);
    }
    args.push(query.limit);
    return { sql: `SELECT ${COLUMNS} FROM nango_changes WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, args };
}

/** Runs `write` in one transaction in which the change-log triggers log `action` for every row they see. */
export function withChangeAction<T>(db: Database.Database, action: ChangeAction, write: () => T): T {
    return db.transaction(() => {
        db.prepare('UPDATE nango_mirror_change_log SET action_override = ? WHERE id = 1').run(action);
        const result = write();
        db.prepare('UPDATE nango_mirror_change_log SET action_override = NULL WHERE id = 1').run();
        return result;
    })();
}
