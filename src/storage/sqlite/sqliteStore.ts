import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { and, eq, ne, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { SyncKey } from '../../sync/syncKey.js';
import type {
    MirrorStore,
    PageCommit,
    PageResult,
    PullFailure,
    PullFinish,
    PullStart,
    KeyStatus,
} from '../mirrorStore.js';
import { nangoSyncState } from './schema.js';
import { createRecordWriter, type RecordWriter } from './recordWriter.js';
import { createSyncStateStatements, type SyncStateStatements } from './syncStateStatements.js';
import { createWalSync, type WalSync } from './walSync.js';
import { applySqliteViews } from './applyViews.js';
import { dateToMicroIso } from '../timestamps.js';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/sqlite', import.meta.url));
const WRITER_LEASE = 'sqlite-writer';
const WRITER_LEASE_MS = 15_000;

/** `host:pid` of a daemon on this machine whose process is gone can be taken over at once. */
function holderIsAlive(holder: string): boolean {
    const [host, pid] = holder.split(':');
    if (host !== hostname() || !pid) return true;
    try {
        process.kill(Number(pid), 0);
        return true;
    } catch (err) {
        return (err as NodeJS.ErrnoException).code !== 'ESRCH';
    }
}

export interface SqliteStoreOptions {
    /** Path of the database file; parent folders are created. */
    path: string;
}

export function createSqliteStore(options: SqliteStoreOptions): MirrorStore {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    const sqlite = new Database(options.path);
    // WAL lets the app read while a page commits. FULL by default; pull requests and pages use
    // withoutFsync + the WAL flush below, equally durable (power loss, not just a process crash).
    // A filesystem that cannot hold a WAL (or `:memory:`) keeps another journal mode.
    const inWal = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('busy_timeout = 5000');
    const db = drizzle(sqlite);
    let writer: RecordWriter | undefined;
    let statements: SyncStateStatements | undefined;
    let wal: WalSync | undefined;
    const prepared = (): SyncStateStatements => {
        if (!statements) throw new Error('The store is not migrated yet.');
        return statements;
    };
    /**
     * Commits without an fsync on the event loop. Pull requests and pages then wait for the WAL
     * flush (walSync.ts), which runs the fsync on libuv's thread pool: as durable as FULL, and the
     * daemon keeps answering webhooks meanwhile. A pull's own bookkeeping (running, finished,
     * failed) does not wait for any fsync: losing it to a power cut costs at most a repeated pull,
     * since WAL keeps commits in order and the next durable one syncs every commit before it.
     */
    const withoutFsync = <T>(write: () => T): T => {
        // Without a WAL there is no file to flush afterwards: commit with FULL.
        if (!inWal) return write();
        sqlite.exec('PRAGMA synchronous = NORMAL');
        try {
            return write();
        } finally {
            sqlite.exec('PRAGMA synchronous = FULL');
        }
    };
    let leaseTimer: NodeJS.Timeout | undefined;
    let daemonHolder: string | undefined;

    const t = nangoSyncState;
    const keyIs = (key: SyncKey) =>
        and(
            eq(t.providerConfigKey, key.providerConfigKey),
            eq(t.connectionId, key.connectionId),
            eq(t.model, key.model),
            eq(t.variant, key.variant),
        );
    const keyColumns = { providerConfigKey: t.providerConfigKey, connectionId: t.connectionId, model: t.model, variant: t.variant };

    const store: MirrorStore = {
        engine: 'sqlite',

        async migrate() {
            migrate(db, { migrationsFolder: MIGRATIONS });
            writer = createRecordWriter(sqlite);
            statements = createSyncStateStatements(sqlite);
            // The WAL file exists once the migrations have written.
            if (inWal) wal = createWalSync(`${options.path}-wal`);
        },

        async checkReady() {
            const row = sqlite
                .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('nango_records', 'nango_sync_state')")
                .get() as { n: number };
            if (row.n !== 2) throw new Error('The mirror tables do not exist: run `nango-mirror migrate`.');
        },

        async requestPulls(keys, at) {
            if (keys.length === 0) return;
            const { requestPull } = prepared();
            // The 2xx waits for the fsync, but the event loop does not: the commit skips it and the
            // WAL flush runs it off the main thread, shared by every request committed meanwhile.
            withoutFsync(() =>
                sqlite.transaction(() => {
                    for (const key of keys) requestPull(key, at);
                })(),
            );
            await wal?.flush();
        },

        async recordNangoSyncError(keys, error, at) {
            db.transaction((tx) => {
                for (const key of keys) {
                    tx.insert(t)
                        .values({ ...key, status: 'ok', nangoSyncError: error, nangoSyncErrorAt: at, createdAt: at, updatedAt: at })
                        .onConflictDoUpdate({
                            target: [t.providerConfigKey, t.connectionId, t.model, t.variant],
                            set: { nangoSyncError: error, nangoSyncErrorAt: at, updatedAt: at },
                        })
                        .run();
                }
            });
        },

        async markConnectionGone(providerConfigKey, connectionId, reason, at) {
            const res = db
                .update(t)
                .set({ status: 'gone', goneAt: at, lastError: reason, lastErrorCode: 'connection_deleted', doneSeq: sql`${t.requestSeq}`, updatedAt: at })
                .where(and(eq(t.providerConfigKey, providerConfigKey), eq(t.connectionId, connectionId)))
                .run();
            return res.changes;
        },

        async listDueKeys(now) {
            return prepared().listDueKeys(now);
        },

        async listActiveKeys() {
            return db.select(keyColumns).from(t).where(ne(t.status, 'gone')).all();
        },

        async listKeyStatus(only, options): Promise<KeyStatus[]> {
            const counted = options?.counts !== false;
            const filter = only ? 'WHERE s.provider_config_key = ? AND s.connection_id = ? AND s.model = ? AND s.variant = ?' : '';
            const keyArgs = only ? [only.providerConfigKey, only.connectionId, only.model, only.variant] : [];
            // The count scans only the rows it reports: one key's, all, or none.
            const countFilter = !counted ? 'WHERE 0' : only ? 'WHERE provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?' : '';
            const args = counted && only ? [...keyArgs, ...keyArgs] : keyArgs;
            return sqlite
                .prepare(
                    `SELECT s.provider_config_key AS providerConfigKey, s.connection_id AS connectionId, s.model, s.variant, s.status, s.cursor,
                        s.request_seq AS requestSeq, s.done_seq AS doneSeq, s.pull_requested_at AS pullRequestedAt, s.pull_started_at AS pullStartedAt,
                        s.last_success_at AS lastSuccessAt, s.next_attempt_at AS nextAttemptAt, s.last_error AS lastError, s.last_error_code AS lastErrorCode,
                        s.consecutive_failures AS consecutiveFailures, s.nango_sync_error AS nangoSyncError, s.records_pulled_total AS recordsPulledTotal,
                        coalesce(r.live, 0) AS liveRows, coalesce(r.deleted, 0) AS deletedRows
                     FROM nango_sync_state s
                     LEFT JOIN (SELECT provider_config_key, connection_id, model, variant,
                                   sum(deleted_at IS NULL) AS live, sum(deleted_at IS NOT NULL) AS deleted
                                FROM nango_records ${countFilter} GROUP BY 1, 2, 3, 4) r
                       USING (provider_config_key, connection_id, model, variant)
                     ${filter}
                     ORDER BY 1, 2, 3, 4`,
                )
                .all(...args) as KeyStatus[];
        },

        async seedKeys(keys, at) {
            let added = 0;
            db.transaction((tx) => {
                for (const key of keys) {
                    added += tx
                        .insert(t)
                        .values({ ...key, status: 'pending', requestSeq: 1, pullRequestedAt: at, createdAt: at, updatedAt: at })
                        .onConflictDoNothing()
                        .run().changes;
                }
            });
            return added;
        },

        async requestResync(key, sweep, at) {
            const { requestPull } = prepared();
            db.transaction((tx) => {
                requestPull(key, at);
                tx.update(t)
                    .set({ cursor: null, resyncFrom: at, resyncSweep: sweep, updatedAt: at })
                    .where(keyIs(key))
                    .run();
            });
        },

        async sweep(key, from, deletes, at) {
            const where = `provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ? AND synced_at < ?`;
            const args = [key.providerConfigKey, key.connectionId, key.model, key.variant, from];
            if (deletes === 'hard') return sqlite.prepare(`DELETE FROM nango_records WHERE ${where}`).run(...args).changes;
            return sqlite
                .prepare(`UPDATE nango_records SET deleted_at = ?, last_action = 'DELETED', synced_at = ? WHERE ${where} AND deleted_at IS NULL`)
                .run(at, at, ...args).changes;
        },

        async notifyChannel() {
            throw new Error('NOTIFY needs Postgres; SQLite has no notification channel.');
        },

        async lockForDaemon(holder) {
            const now = Date.now();
            const lease = sqlite.prepare('SELECT holder, expires_at AS expiresAt FROM nango_mirror_leases WHERE name = ?').get(WRITER_LEASE) as
                | { holder: string; expiresAt: string }
                | undefined;
            if (lease && lease.holder !== holder && lease.expiresAt > dateToMicroIso(new Date(now)) && holderIsAlive(lease.holder)) {
                throw new Error(
                    `Another nango-mirror (${lease.holder}) is using ${options.path}. SQLite has a single writer: stop the other daemon, ` +
                        'or give this one its own database.url; to run several replicas on one mirror, use Postgres.',
                );
            }
            const renew = () => {
                if (!sqlite.open) return;
                const expires = dateToMicroIso(new Date(Date.now() + WRITER_LEASE_MS));
                sqlite
                    .prepare('INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at')
                    .run(WRITER_LEASE, holder, expires);
            };
            renew();
            daemonHolder = holder;
            leaseTimer = setInterval(renew, WRITER_LEASE_MS / 3);
            leaseTimer.unref();
        },

        async releasePull() {
            // One process per file: the scheduler already keeps one pull per key.
        },

        async claimLease(name, holder, now, expiresAt) {
            // One process per file: a lease whose holder died with a crash is free at once.
            const held = sqlite.prepare('SELECT holder FROM nango_mirror_leases WHERE name = ?').get(name) as { holder: string } | undefined;
            if (held && held.holder !== holder && !holderIsAlive(held.holder)) sqlite.prepare('DELETE FROM nango_mirror_leases WHERE name = ?').run(name);
            const row = sqlite
                .prepare(
                    `INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES (?, ?, ?)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE nango_mirror_leases.expires_at <= ? OR nango_mirror_leases.holder = excluded.holder
                     RETURNING name`,
                )
                .get(name, holder, expiresAt, now);
            return row !== undefined;
        },

        async releaseLeases(holder) {
            if (sqlite.open) sqlite.prepare('DELETE FROM nango_mirror_leases WHERE holder = ?').run(holder);
        },

        async applyViews(views, indexes) {
            applySqliteViews(sqlite, views, indexes);
        },

        async startPull(key, at): Promise<PullStart> {
            const row = withoutFsync(() => prepared().startPull(key, at));
            if (row) return row;
            // A key the store has never seen (a reconcile or admin request raced a fresh database).
            db.insert(t).values({ ...key, status: 'running', pullStartedAt: at, createdAt: at, updatedAt: at }).run();
            return { cursor: null, requestSeq: 0, consecutiveFailures: 0, resyncFrom: null, resyncSweep: false };
        },

        async commitPage(key: SyncKey, page: PageCommit): Promise<PageResult> {
            const pages = writer;
            if (!pages) throw new Error('The store is not migrated yet.');
            // Durable before it resolves, like a pull request: the fsync runs off the event loop.
            const result = withoutFsync(() => pages.commitPage(key, page));
            await wal?.flush();
            return result;
        },

        async finishPull(key, result: PullFinish) {
            withoutFsync(() => prepared().finishPull(key, result));
        },

        async failPull(key, failure: PullFailure) {
            withoutFsync(() =>
                db
                    .update(t)
                    .set({
                        status: 'failed',
                        lastError: failure.error,
                        lastErrorCode: failure.code,
                        consecutiveFailures: sql`${t.consecutiveFailures} + 1`,
                        nextAttemptAt: failure.nextAttemptAt,
                        // Keep the request pending: the key is retried once the backoff has passed.
                        requestSeq: sql`max(${t.requestSeq}, ${t.doneSeq} + 1)`,
                        updatedAt: failure.at,
                    })
                    .where(keyIs(key))
                    .run(),
            );
        },

        async markKeyGone(key, reason, at) {
            db.update(t)
                .set({ status: 'gone', goneAt: at, lastError: reason, lastErrorCode: 'unknown_connection', doneSeq: sql`${t.requestSeq}`, updatedAt: at })
                .where(keyIs(key))
                .run();
        },

        async abandonPull(key, at) {
            withoutFsync(() =>
                db.update(t)
                    .set({ status: 'pending', requestSeq: sql`max(${t.requestSeq}, ${t.doneSeq} + 1)`, updatedAt: at })
                    .where(and(keyIs(key), eq(t.status, 'running')))
                    .run(),
            );
        },

        async recoverInterruptedPulls(at) {
            return db
                .update(t)
                .set({ status: 'pending', requestSeq: sql`max(${t.requestSeq}, ${t.doneSeq} + 1)`, updatedAt: at })
                .where(eq(t.status, 'running'))
                .run().changes;
        },

        async close() {
            if (leaseTimer) clearInterval(leaseTimer);
            await wal?.close();
            if (sqlite.open && daemonHolder) {
                sqlite.prepare('DELETE FROM nango_mirror_leases WHERE name = ? AND holder = ?').run(WRITER_LEASE, daemonHolder);
            }
            if (sqlite.open) sqlite.close();
        },
    };
    return store;
}
