import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { Schema } from '../store.js';
import type { SqliteConnection } from './connection.js';
import { recoverSqliteInterruptedPulls } from './pullSessions.js';
import { applySqliteViews } from './views.js';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/sqlite', import.meta.url));

export function sqliteSchema(conn: SqliteConnection): Schema {
    return {
        async migrate() {
            migrate(drizzle(conn.db), { migrationsFolder: MIGRATIONS });
            conn.attachWal();
        },
        async checkReady() {
            const row = conn.db
                .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('nango_records', 'nango_sync_state')")
                .get() as { n: number };
            if (row.n !== 2) throw new Error('The mirror tables do not exist: run `nango-mirror migrate`.');
        },
        async applyViews(views, indexes) {
            applySqliteViews(conn.db, views, indexes);
        },
        async recoverInterruptedPulls(at) {
            return recoverSqliteInterruptedPulls(conn, at);
        },
    };
}
