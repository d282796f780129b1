import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import type { Schema } from '../store.js';
import type { SqliteConnection } from './connection.js';
import { recoverSqliteInterruptedPulls } from './pullSessions.js';
import { generatedViewRecords, SELECT_RELATIONS, type RelationRow } from '../viewRelations.js';
import { applySqliteGeneratedViews, applySqliteViews } from './views.js';

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
            conn.attachWal();
        },
        async applyViews(views, indexes) {
            applySqliteViews(conn.db, views, indexes);
        },
        async listMirroredModels() {
            return conn.db.prepare(`SELECT DISTINCT provider_config_key AS "providerConfigKey", model FROM nango_sync_state ORDER BY 1, 2`).all() as Array<{ providerConfigKey: string; model: string }>;
        },
        async applyGeneratedViews(views, indexes) {
            return applySqliteGeneratedViews(conn.db, views, indexes);
        },
        async listGeneratedViews() {
            return generatedViewRecords(conn.db.prepare(SELECT_RELATIONS).all() as RelationRow[]);
        },
        async recoverInterruptedPulls(at) {
            return recoverSqliteInterruptedPulls(conn, at);
        },
    };
}
