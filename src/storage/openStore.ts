import type { Config } from '../config/schema.js';
import type { MirrorStore } from './mirrorStore.js';
import { createPostgresStore } from './postgres/postgresStore.js';
import { createSqliteStore } from './sqlite/sqliteStore.js';

/** Opens the store `database.url` names. The one place that knows which engines exist. */
export function openStore(database: Config['database'], poolSize?: number): MirrorStore {
    const { url } = database;
    if (url.startsWith('sqlite:')) {
        const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
        return createSqliteStore({ path });
    }
    if (/^postgres(ql)?:\/\//.test(url)) {
        return createPostgresStore({ url, schema: database.schema, ...(poolSize ? { poolSize } : {}) });
    }
    throw new Error(`database.url: expected sqlite:<path> or postgres://…, got ${JSON.stringify(url)}.`);
}
