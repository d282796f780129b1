import type { Config } from '../config/schema.js';
import type { MirrorStore } from './mirrorStore.js';
import { createPostgresStore } from './postgres/postgresStore.js';
import { createSqliteStore } from './sqlite/sqliteStore.js';

/** Opens the store `database.url` names. The one place that knows which engines exist. */
/** `pool`: Postgres connections, at most `size`, `keepOpen` of them opened at start and kept. */
export function openStore(database: Config['database'], pool: { size?: number; keepOpen?: number } = {}): MirrorStore {
    const { url } = database;
    if (url.startsWith('sqlite:')) {
        const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
        return createSqliteStore({ path });
    }
    if (/^postgres(ql)?:\/\//.test(url)) {
        return createPostgresStore({ url, schema: database.schema, ...(pool.size ? { poolSize: pool.size } : {}), ...(pool.keepOpen ? { keepOpen: pool.keepOpen } : {}) });
    }
    throw new Error(`database.url: expected sqlite:<path> or postgres://…, got ${JSON.stringify(url)}.`);
}
