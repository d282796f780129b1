import { hostname } from 'node:os';
import { dateToMicroIso } from '../../domain/timestamps.js';
import type { Leases, WriterLock } from '../store.js';
import type { SqliteConnection } from './connection.js';

const WRITER_LEASE = 'sqlite-writer';
const WRITER_LEASE_MS = 15_000;

const UPSERT_LEASE = `
INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`;

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

export function sqliteLeases(conn: SqliteConnection): Leases {
    const heldBy = conn.statement<[string], { holder: string }>('SELECT holder FROM nango_mirror_leases WHERE name = ?');
    const drop = conn.statement('DELETE FROM nango_mirror_leases WHERE name = ?');
    const claim = conn.statement(`${UPSERT_LEASE} WHERE nango_mirror_leases.expires_at <= ? OR nango_mirror_leases.holder = excluded.holder RETURNING name`);
    const releaseAll = conn.statement('DELETE FROM nango_mirror_leases WHERE holder = ?');
    return {
        async claimLease(name, holder, now, expiresAt) {
            // One process per file: a lease whose holder died with a crash is free at once.
            const held = heldBy().get(name);
            if (held && held.holder !== holder && !holderIsAlive(held.holder)) drop().run(name);
            return claim().get(name, holder, expiresAt, now) !== undefined;
        },
        async releaseLeases(holder) {
            if (conn.db.open) releaseAll().run(holder);
        },
    };
}

/**
 * SQLite has one writer: the daemon keeps a lease row renewed while it runs. A second daemon is
 * refused while the lease is live and its holder's process exists; `release` gives it back.
 */
export function sqliteWriterLock(conn: SqliteConnection): WriterLock & { release(): void } {
    let timer: NodeJS.Timeout | undefined;
    let heldAs: string | undefined;
    return {
        async acquire(holder) {
            const lease = conn.db.prepare('SELECT holder, expires_at AS expiresAt FROM nango_mirror_leases WHERE name = ?').get(WRITER_LEASE) as
                | { holder: string; expiresAt: string }
                | undefined;
            if (lease && lease.holder !== holder && lease.expiresAt > dateToMicroIso(new Date()) && holderIsAlive(lease.holder)) {
                throw new Error(
                    `Another nango-mirror (${lease.holder}) is using ${conn.path}. SQLite has a single writer: stop the other daemon, ` +
                        'or give this one its own database.url; to run several replicas on one mirror, use Postgres.',
                );
            }
            const renew = conn.db.prepare(UPSERT_LEASE);
            const write = () => {
                if (conn.db.open) renew.run(WRITER_LEASE, holder, dateToMicroIso(new Date(Date.now() + WRITER_LEASE_MS)));
            };
            write();
            heldAs = holder;
            timer = setInterval(write, WRITER_LEASE_MS / 3);
            timer.unref();
        },
        release() {
            if (timer) clearInterval(timer);
            timer = undefined;
            if (heldAs && conn.db.open) conn.db.prepare('DELETE FROM nango_mirror_leases WHERE name = ? AND holder = ?').run(WRITER_LEASE, heldAs);
            heldAs = undefined;
        },
    };
}
