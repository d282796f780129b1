import type { Store } from '../store.js';
import { postgresChangeLog } from './changeLog.js';
import { postgresKeyStates } from './keyStates.js';
import { postgresLeases } from './leases.js';
import { createPostgresPool, type PostgresPoolOptions } from './pool.js';
import { postgresPullRequests } from './pullRequests.js';
import { postgresPullSessions } from './pullSessions.js';
import { postgresSchema } from './schema.js';

export type PostgresStoreOptions = PostgresPoolOptions & {
    /** Each page's transaction sends `NOTIFY <channel>` with the page's notice (pageWriter.ts). */
    notifyChannel?: string;
};

/** The shared engine: replicas use one database; each pull holds its key's advisory lock (pullSessions.ts). */
export function openPostgresStore(options: PostgresStoreOptions): Store {
    const pool = createPostgresPool(options);
    const pulls = postgresPullSessions(pool, options.schema, options.notifyChannel);
    let closed: Promise<void> | undefined;
    return {
        requests: postgresPullRequests(pool),
        pulls,
        keys: postgresKeyStates(pool),
        leases: postgresLeases(pool),
        schema: postgresSchema(pool, { schema: options.schema, keepOpen: options.keepOpen ?? 0 }, pulls),
        changes: postgresChangeLog(pool),
        close() {
            closed ??= (async () => {
                pulls.destroyAll();
                await pool.end();
            })();
            return closed;
        },
    };
}
