import { mkdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { startWalCheckpointer, type WalCheckpointer } from './walCheckpointer.js';
import { createWalSync, type WalSync } from './walSync.js';

/** How often the checkpoint worker copies the WAL into the database (walCheckpointer.ts). */
const CHECKPOINT_INTERVAL_MS = 200;
/**
 * The connection's page cache, in KiB: SQLite's own default (2 MB). better-sqlite3 builds SQLite with
 * 16 MB, which an ingest fills: the daemon's peak RSS was 157-159 MB with it and 141-148 MB with 2 MB
 * (ingest bench, 200,000 records, 3 rounds each, alternating), and a 1,000,000-record pull took 13.3 s
 * either way (152 against 142 MB). Pages not in it are read from the OS's file cache.
 */
const PAGE_CACHE_KIB = 2000;
/**
 * The WAL's size in MB past which a pull waits for the checkpoint worker to catch up, so that the
 * WAL starts over (walCheckpointer.ts; config database.walMaxMb). On the scale bench (1,000,000
 * records) 128 MB kept the WAL's file to 172-195 MB but paid 12-14 waits a pull against 4-8 at 256
 * (9.4-9.7 s a pull against 8.9-9.3 s). On the 200,000-record ingest bench (a pull of about 260 MB)
 * 64 MB moved the median ratio within noise (0.792 against 0.801, 6 rounds each; 2 waits of 31-55
 * ms), and 256 MB, which it reaches once at most, did not cost anything measurable.
 */
const WAL_MAX_MB = 256;
/** How long a catch-up keeps trying while an open read of the app's holds the copy back; then the pull goes on. */
const CATCH_UP_LIMIT_MS = 50;
/** After such a refusal, the pull is not asked to wait again for this long (a long read would cost it 50 ms every tick). */
const QUIET_AFTER_REFUSAL_MS = 2000;
/** How long a write waits for another connection's lock (a backup, the app's own write). */
const BUSY_TIMEOUT_MS = 5000;
/** SQLite's default `wal_autocheckpoint`, in force while no worker runs (it failed, or it is idle). */
const AUTO_CHECKPOINT_PAGES = 1000;
/**
 * The checkpoint worker exits once the WAL has been idle this long, and the next write starts it
 * again; meanwhile SQLite's automatic checkpoint is back, so a write that does not restart it (a
 * migration) still gets checkpointed.
 */
export const CHECKPOINTER_IDLE_MS = 30_000;

/** The daemon's one SQLite connection, shared by every role of the store. */
export interface SqliteConnection {
    readonly db: Database.Database;
    readonly path: string;
    /** A statement prepared on first use (the tables exist only once migrated), then reused. */
    statement<P extends unknown[] = unknown[], R = unknown>(sql: string): () => Database.Statement<P, R>;
    /**
     * Commits `write` without an fsync on the event loop. Pull requests and pages then wait for
     * `flush()`, which runs the fsync on libuv's thread pool: as durable as FULL, and the daemon keeps
     * answering webhooks meanwhile. A pull's own bookkeeping (running, finished, failed) does not wait
     * for any fsync: losing it to a power cut costs at most a repeated pull, since WAL keeps commits in
     * order and the next durable one syncs every commit before it.
     */
    withoutFsync<T>(write: () => T): T;
    /**
     * `withoutFsync`, then `flush()`: resolves once `write` is on disk, as a FULL commit would, but the
     * fsync runs off the event loop (a FULL commit's fsync held the main thread 20–130 ms at times on
     * a loaded disk). Every write on the main thread that is not a pull's own bookkeeping goes this way.
     */
    durably<T>(write: () => T): Promise<T>;
    /** Resolves once every commit made so far is on disk (nothing to wait for without a WAL). */
    flush(): Promise<void>;
    /**
     * For a writer that never pauses (a pull's pages), before each transaction: once the WAL has
     * grown past its bound (WAL_MAX_MB), waits for the checkpoint worker to copy it whole,
     * so that the next transaction starts it over. The event loop runs meanwhile.
     */
    makeWalRoom(): Promise<void>;
    /**
     * Called once migrated (the WAL file exists once the migrations have written), and by a reader
     * once it has read (`checkReady`): fsync flushes the file's pages whoever wrote them, so a
     * reader in another process can make what it is about to show durable (changeLog.ts).
     */
    attachWal(): void;
    /**
     * For the file's one writer (the daemon, once it holds the writer lock): WAL checkpoints move
     * from this connection's commits to a worker thread (walCheckpointer.ts), which exits when the
     * WAL has been idle for a while and is started again by the next `withoutFsync` write. Without a WAL, nothing.
     */
    checkpointInBackground(): void;
    /** True while the checkpoint worker runs. */
    readonly checkpointing: boolean;
    close(): Promise<void>;
}

export interface SqliteConnectionOptions {
    checkpointerIdleMs?: number;
    /** The WAL's bound during a long pull, in MB (WAL_MAX_MB). */
    walMaxMb?: number;
    /** Tests: the checkpoint worker's tick (CHECKPOINT_INTERVAL_MS), the bound in WAL frames instead of MB, QUIET_AFTER_REFUSAL_MS. */
    checkpointIntervalMs?: number;
    walRestartFrames?: number;
    quietAfterRefusalMs?: number;
    /** How `flush()` syncs the WAL file (walSync.ts); a test may hold or count it. */
    syncFile?: (file: FileHandle) => Promise<void>;
}

export function openSqliteConnection(path: string, options: SqliteConnectionOptions = {}): SqliteConnection {
    const idleAfterMs = options.checkpointerIdleMs ?? CHECKPOINTER_IDLE_MS;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    // WAL lets the app read while a page commits. FULL by default; pull requests and pages use
    // withoutFsync + the WAL flush, equally durable (power loss, not just a process crash).
    // A filesystem that cannot hold a WAL (or `:memory:`) keeps another journal mode.
    const inWal = db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    let wal: WalSync | undefined;
    let checkpointer: WalCheckpointer | undefined;
    /** This connection is the writer and wants its checkpoints in the worker (until the worker fails). */
    let inBackground = false;

    /**
     * Idle, the worker has copied the whole WAL: give its disk space back. A pull lets the WAL grow to
     * its bound (WAL_MAX_MB; a pull's pages go past it until the worker's next tick) before
     * it starts over, and SQLite keeps the file at the size it reached until the daemon stopped. Here, on
     * this connection and between two of its transactions, so no snapshot of its own goes stale;
     * without waiting for readers (an app's open read makes it a no-op until the next idle spell).
     * Nothing is left to copy, so it costs the main thread the truncate (61 ms for 232 MB). Not
     * `journal_size_limit`: SQLite cuts the file back inside the first commit after the WAL starts
     * over, mid-activity (a page's commit then held the event loop 206 ms in the keys bench).
     */
    function truncateWal(): void {
        db.pragma('busy_timeout = 0');
        try {
            db.pragma('wal_checkpoint(TRUNCATE)');
        } catch (err) {
            // It runs from the worker's exit event: an I/O error here must not end the daemon; the
            // next write's commit or checkpoint meets it again where it is handled.
            process.emitWarning(`nango-mirror: truncating the idle WAL failed (${(err as Error).message})`);
        } finally {
            db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        }
    }

    /** WAL frames in `mb` MB: a frame is a database page and its 24-byte header. */
    function walFrames(mb: number): number {
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        return Math.max(1, Math.floor((mb * 2 ** 20) / (pageSize + 24)));
    }

    function startCheckpointer(): void {
        if (!inBackground || checkpointer?.running) return;
        db.pragma('wal_autocheckpoint = 0');
        const started = startWalCheckpointer(path, {
            intervalMs: options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS,
            idleAfterMs,
            restartFrames: options.walRestartFrames ?? walFrames(options.walMaxMb ?? WAL_MAX_MB),
            catchUpLimitMs: CATCH_UP_LIMIT_MS,
            quietAfterRefusalMs: options.quietAfterRefusalMs ?? QUIET_AFTER_REFUSAL_MS,
            onIdle: () => {
                if (checkpointer === started) checkpointer = undefined;
                if (db.open && !checkpointer) {
                    db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
                    truncateWal();
                }
            },
            onFailure: (err) => {
                inBackground = false;
                if (checkpointer === started) checkpointer = undefined;
                if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
                process.emitWarning(`nango-mirror: the WAL checkpoint worker stopped (${err.message}); SQLite checkpoints on the main thread again`);
            },
        });
        checkpointer = started;
    }

    return {
        db,
        path,
        statement<P extends unknown[], R>(sql: string) {
            let prepared: Database.Statement<P, R> | undefined;
            return () => (prepared ??= db.prepare<P, R>(sql));
        },
        withoutFsync(write) {
            // Without a WAL there is no file to flush afterwards: commit with FULL.
            if (!inWal) return write();
            startCheckpointer();
            db.exec('PRAGMA synchronous = NORMAL');
            try {
                return write();
            } finally {
                db.exec('PRAGMA synchronous = FULL');
            }
        },
        async durably(write) {
            const result = this.withoutFsync(write);
            await this.flush();
            return result;
        },
        async flush() {
            await wal?.flush();
        },
        async makeWalRoom() {
            // Every pull waits for the same catch-up: one that wrote meanwhile would spoil it.
            if (checkpointer?.restartWanted) await checkpointer.catchUp();
        },
        attachWal() {
            if (inWal) wal ??= createWalSync(`${path}-wal`, options.syncFile);
        },
        checkpointInBackground() {
            if (!inWal || path === ':memory:' || inBackground) return;
            inBackground = true;
            startCheckpointer();
        },
        get checkpointing() {
            return checkpointer?.running ?? false;
        },
        async close() {
            const stopping = checkpointer;
            checkpointer = undefined;
            inBackground = false;
            await stopping?.stop();
            await wal?.close();
            wal = undefined;
            if (db.open) db.close();
        },
    };
}
