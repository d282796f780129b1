import type { MirrorStore } from './mirrorStore.js';
import { createSqliteStore } from './sqlite/sqliteStore.js';

/** Opens the store a `database.url` names. The one place that knows which engines exist. */
export function openStore(url: string): MirrorStore {
    if (url.startsWith('sqlite:')) {
        const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
        return createSqliteStore({ path });
    }
    if (/^postgres(ql)?:\/\//.test(url)) {
        throw new Error('database.url: Postgres is not supported by this build yet; use sqlite:<path>.');
    }
    throw new Error(`database.url: expected sqlite:<path> or postgres://…, got ${JSON.stringify(url)}.`);
}
