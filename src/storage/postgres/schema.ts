import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type pg from 'pg';
import type { PullSessions, Schema } from '../store.js';
import { recoverPostgresInterruptedPulls } from './pullSessions.js';
import { generatedViewRecords, SELECT_RELATIONS, type RelationRow } from '../viewRelations.js';
import { applyPostgresGeneratedViews, applyPostgresViews } from './views.js';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

export function postgresSchema(pool: pg.Pool, options: { schema: string; keepOpen: number }, sessions: PullSessions): Schema {
    const { schema } = options;
    return {
        async migrate() {
            const client = await pool.connect();
            try {
                // Replicas starting together migrate one at a time.
                await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`nango-mirror-migrate:${schema}`]);
                try {
                    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
                    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS, migrationsSchema: schema });
                } finally {
                    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`nango-mirror-migrate:${schema}`]);
                }
            } finally {
                client.release();
            }
            const open = await Promise.all(Array.from({ length: Math.max(0, options.keepOpen - pool.totalCount) }, () => pool.connect()));
            for (const c of open) c.release();
        },
        async checkReady() {
            const res = await pool.query<{ n: number }>(
                "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('nango_records', 'nango_sync_state')",
                [schema],
            );
            if (res.rows[0]?.n !== 2) throw new Error('The mirror tables do not exist: run `nango-mirror migrate`.');
        },
        async applyViews(views, indexes) {
            const client = await pool.connect();
            try {
                await applyPostgresViews(client, schema, views, indexes);
            } finally {
                client.release();
            }
        },
        async listMirroredModels() {
            // COLLATE "C": byte order, as SQLite sorts.
            const res = await pool.query<{ providerConfigKey: string; model: string }>(
                'SELECT provider_config_key AS "providerConfigKey", model FROM nango_sync_state GROUP BY provider_config_key, model ORDER BY provider_config_key COLLATE "C", model COLLATE "C"',
            );
            return res.rows;
        },
        async applyGeneratedViews(views, indexes) {
            const client = await pool.connect();
            try {
                return await applyPostgresGeneratedViews(client, schema, views, indexes);
            } finally {
                client.release();
            }
        },
        async listGeneratedViews() {
            return generatedViewRecords((await pool.query<RelationRow>(SELECT_RELATIONS)).rows);
        },
        recoverInterruptedPulls: (at) => recoverPostgresInterruptedPulls(pool, sessions, at),
    };
}
