import pg from 'pg';

/** `NOTIFY channel, payload` on a connection of its own: NOTIFY is the notifier's, not the store's. */
export interface PostgresNotify {
    notify(channel: string, payload: string): Promise<void>;
    close(): Promise<void>;
}

/**
 * One connection, opened on the first NOTIFY and replaced after an error (the pool does both), so
 * NOTIFYs go out one at a time in the order they are sent.
 */
export function createPostgresNotify(url: string): PostgresNotify {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => {
        // The idle connection broke; the next NOTIFY opens another and reports its own error.
    });
    return {
        async notify(channel, payload) {
            await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
        },
        close: () => pool.end(),
    };
}
