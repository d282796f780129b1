import type pg from 'pg';
import type { Leases } from '../store.js';

const CLAIM = `
INSERT INTO nango_mirror_leases (name, holder, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
WHERE nango_mirror_leases.expires_at <= $4 OR nango_mirror_leases.holder = excluded.holder
RETURNING name`;

export function postgresLeases(pool: pg.Pool): Leases {
    return {
        async claimLease(name, holder, now, expiresAt) {
            return (await pool.query(CLAIM, [name, holder, expiresAt, now])).rows.length > 0;
        },
        async releaseLeases(holder) {
            await pool.query('DELETE FROM nango_mirror_leases WHERE holder = $1', [holder]);
        },
    };
}
