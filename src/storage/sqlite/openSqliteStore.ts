import type { Store } from '../store.js';
import { sqliteChangeLog } from './changeLog.js';
import { openSqliteConnection } from './connection.js';
import { sqliteKeyStates } from './keyStates.js';
import { sqliteLeases, sqliteWriterLock, type WriterState } from './leases.js';
import { sqlitePullRequests } from './pullRequests.js';
import { sqlitePullSessions } from './pullSessions.js';
import { sqliteSchema } from './schema.js';

export interface SqliteStoreOptions {
    /** Path of the database file (parent folders are created), or `:memory:`. */
    path: string;
    /** How large the WAL may grow during a long pull (config database.walMaxMb; connection.ts). */
    walMaxMb?: number;
}

/** The embedded engine: one file, one writing daemon, every role on one connection. */
export function openSqliteStore(options: SqliteStoreOptions): Store {
    const conn = openSqliteConnection(options.path, options.walMaxMb !== undefined ? { walMaxMb: options.walMaxMb } : {});
    const writer: WriterState = { holder: undefined };
    const writerLock = sqliteWriterLock(conn, writer);
    let closed: Promise<void> | undefined;
    return {
        requests: sqlitePullRequests(conn),
        pulls: sqlitePullSessions(conn),
        keys: sqliteKeyStates(conn),
        leases: sqliteLeases(conn, writer),
        schema: sqliteSchema(conn),
        changes: sqliteChangeLog(conn),
        writerLock,
        close() {
            closed ??= (async () => {
                writerLock.release();
                await conn.close();
            })();
            return closed;
        },
    };
}
