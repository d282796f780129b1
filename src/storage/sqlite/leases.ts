import Database from 'better-sqlite3';
import { dateToMicroIso } from '../../domain/timestamps.js';
import type { Leases, WriterLock } from '../store.js';
import type { SqliteConnection } from './connection.js';

const WRITER_LEASE = 'sqlite-writer';

const UPSERT_LEASE = `
INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`;

/** Who holds this file's writer lock in this process, if anyone (shared by the lock and the leases). */
export interface WriterState {
    holder: string | undefined;
}

export function sqliteLeases(conn: SqliteConnection, writer: WriterState): Leases {
    const drop = conn.statement('DELETE FROM nango_mirror_leases WHERE name = ? AND holder <> ?');
    const claim = conn.statement(`${UPSERT_LEASE} WHERE nango_mirror_leases.expires_at <= ? OR nango_mirror_leases.holder = excluded.holder RETURNING name`);
    const releaseAll = conn.statement('DELETE FROM nango_mirror_leases WHERE holder = ?');
    return {
        async claimLease(name, holder, now, expiresAt) {
            // The writer lock makes this process the file's only writer: a lease held by anyone else
            // was left by a daemon that is gone (crashed, killed, even still a zombie), so it is free at once.
            if (writer.holder === holder) drop().run(name, holder);
            return claim().get(name, holder, expiresAt, now) !== undefined;
        },
        async releaseLeases(holder) {
            if (conn.db.open) releaseAll().run(holder);
        },
    };
}

/**
 * SQLite has one writer, and the kernel keeps it that way: the daemon holds an exclusive lock on
 * `<database>.lock` for as long as it lives. Why this and not a lease row renewed on a timer with
 * a pid check: a lease outlives a process killed with SIGKILL, and a killed process left unreaped
 * (a zombie) still answers kill(pid, 0), so its successor was refused until the lease expired.
 *
 * How: a second connection, on a side file so the database keeps its WAL and its own connection,
 * in `locking_mode = EXCLUSIVE`, runs `BEGIN EXCLUSIVE` once; SQLite then keeps its EXCLUSIVE
 * lock until that connection closes. Node has no flock()/fcntl() API without a native module, and
 * SQLite's own locking is one better-sqlite3 already ships. What this relies on:
 * - SQLite's unix VFS takes POSIX advisory (fcntl) locks. The kernel owns them per process and
 *   drops them when the process's file descriptors are closed, which happens when it exits or is
 *   killed, before it becomes a zombie: nothing a dead daemon leaves behind holds the lock.
 * - POSIX locks do not exclude a second open of the file in the same process; SQLite covers that
 *   with its per-inode table shared by every connection of the process, so a second store on the
 *   same file in one process is refused too (the store contract test does exactly that).
 * - Across hosts the lock is only as good as the shared filesystem's fcntl locking: local disks and
 *   a volume mounted by one host at a time are fine; NFSv4 forwards the lock to the server (a dead
 *   client's lock is freed when its lease with the server expires, about 90 s); NFSv3 needs a
 *   working lockd, and some network filesystems (certain SMB/FUSE mounts) ignore fcntl locks —
 *   SQLite itself is not safe to share on those either.
 * A lock that is refused is refused at once (no busy timeout on that connection). The holder's
 * `host:pid` is written into the database's `nango_mirror_leases` only so the refusal can name it;
 * whether the file is taken is decided by the lock alone.
 */
export function sqliteWriterLock(conn: SqliteConnection, writer: WriterState): WriterLock & { release(): void } {
    let lockDb: Database.Database | undefined;
    return {
        async acquire(holder) {
            if (writer.holder === holder) return;
            // An in-memory database is private to its connection: nothing to share, nothing to lock.
            if (conn.path !== ':memory:') {
                const db = new Database(`${conn.path}.lock`, { timeout: 0 });
                try {
                    db.pragma('locking_mode = EXCLUSIVE');
                    db.exec('BEGIN EXCLUSIVE; COMMIT');
                } catch (err) {
                    db.close();
                    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
                    const named = conn.db.prepare('SELECT holder FROM nango_mirror_leases WHERE name = ?').get(WRITER_LEASE) as { holder: string } | undefined;
                    throw new Error(
                        `Another nango-mirror (${named?.holder ?? 'holder unknown'}) is using ${conn.path}. SQLite has a single writer: stop the other daemon, ` +
                            'or give this one its own database.url; to run several replicas on one mirror, use Postgres.',
                    );
                }
                lockDb = db;
                // The one writer runs the file's checkpoints, off its main thread.
                conn.checkpointInBackground();
            }
            writer.holder = holder;
            // For the message only (expires_at is not read for this row).
            conn.db.prepare(UPSERT_LEASE).run(WRITER_LEASE, holder, dateToMicroIso(new Date()));
        },
        release() {
            const heldAs = writer.holder;
            writer.holder = undefined;
            if (heldAs && conn.db.open) conn.db.prepare('DELETE FROM nango_mirror_leases WHERE name = ? AND holder = ?').run(WRITER_LEASE, heldAs);
            // Closing the connection gives the lock back (so does the process's death).
            lockDb?.close();
            lockDb = undefined;
        },
    };
}
