import type { Store } from './store.js';

/** `database` of the config: `url` names the engine; `schema` is the Postgres schema, `walMaxMb` SQLite's WAL bound. */
export interface DatabaseLocation {
    url: string;
    schema: string;
    walMaxMb?: number;
}

/**
 * Opens the store `database.url` names. The one place that knows which engines exist.
 * `pool`: Postgres connections, at most `size`, `keepOpen` of them opened at start and kept;
 * `notifyChannel`: each page's transaction NOTIFYs it (config notify.pgChannel, Postgres only).
 * Only the named engine's modules are loaded: the other's driver and store modules would cost an
 * idle daemon several MB of RSS for nothing.
 */
export async function openStore(database: DatabaseLocation, pool: { size?: number; keepOpen?: number; notifyChannel?: string | undefined } = {}): Promise<Store> {
    const { url } = database;
    const path = sqlitePathOf(url);
    if (path !== undefined) {
        const { openSqliteStore } = await import('./sqlite/openSqliteStore.js');
        return openSqliteStore({ path, ...(database.walMaxMb !== undefined ? { walMaxMb: database.walMaxMb } : {}) });
    }
    if (/^postgres(ql)?:\/\//.test(url)) {
        const { openPostgresStore } = await import('./postgres/openPostgresStore.js');
        return openPostgresStore({ url, schema: database.schema, ...(pool.size ? { poolSize: pool.size } : {}), ...(pool.keepOpen ? { keepOpen: pool.keepOpen } : {}), ...(pool.notifyChannel ? { notifyChannel: pool.notifyChannel } : {}) });
    }
    throw new Error(`database.url: expected sqlite:<path> or postgres://…, got ${JSON.stringify(url)}.`);
}

/** The file a `sqlite:` url names (`sqlite:///abs` is `/abs`); undefined for any other engine. */
export function sqlitePathOf(url: string): string | undefined {
    return url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : undefined;
}
