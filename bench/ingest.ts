// Ingest benchmark, SQLite: one webhook, N records (~1 KB each) from the fake Nango (its own
// process, over loopback) into a SQLite file by the real daemon (its own process, the built dist/),
// against the ceiling measured in the same run: the same rows upserted straight into
// better-sqlite3 in 1000-row transactions with no HTTP. The rounds, the daemon and the fake are
// in shared.ts; bench/ingestPostgres.ts is the Postgres run.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../src/storage/sqlite/openSqliteStore.js';
import { benchRounds, ceilingRows, PAGE_SIZE, type ChangesMode, type IngestResult } from './shared.js';

export type { IngestResult, IngestRound } from './shared.js';

export async function benchIngest(records: number, workDir: string, rounds = 3, changes: ChangesMode = 'on'): Promise<IngestResult> {
    return benchRounds('sqlite', records, workDir, rounds, async (dir) => {
        const daemonPath = join(dir, 'mirror.db');
        return {
            ceiling: () => measureCeiling(records, join(dir, 'ceiling.db')),
            database: { url: `sqlite:${daemonPath}` },
            async countDaemonRecords() {
                const db = new Database(daemonPath, { readonly: true });
                try {
                    return (db.prepare('SELECT count(*) AS n FROM nango_records').get() as { n: number }).n;
                } finally {
                    db.close();
                }
            },
            // The files go with the round's directory.
            dispose: async () => undefined,
        };
    }, changes);
}

/** The ceiling's statement: one row a statement, prepared, positional. */
export const CEILING_UPSERT = `
INSERT INTO nango_records (provider_config_key, connection_id, model, variant, id, data, last_action,
    deleted_at, pruned_at, first_seen_at, last_modified_at, cursor, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (provider_config_key, connection_id, model, variant, id) DO UPDATE SET
    data = excluded.data, last_action = excluded.last_action, deleted_at = excluded.deleted_at,
    pruned_at = excluded.pruned_at, last_modified_at = excluded.last_modified_at,
    cursor = excluded.cursor, synced_at = excluded.synced_at`;

/** The same rows, straight into the same table: prepared upsert, 1000 rows per transaction. */
async function measureCeiling(records: number, path: string): Promise<{ seconds: number; cpuSeconds: number }> {
    const store = openSqliteStore({ path });
    await store.schema.migrate();
    await store.close();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const upsert = db.prepare(CEILING_UPSERT);
    const writePage = db.transaction((rows: unknown[][]) => {
        for (const r of rows) upsert.run(...r);
    });
    let elapsed = 0;
    let cpuMicros = 0;
    for (let start = 0; start < records; start += PAGE_SIZE) {
        const rows = ceilingRows(start, Math.min(records, start + PAGE_SIZE));
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        writePage(rows);
        const cpu = process.cpuUsage(cpu0);
        elapsed += performance.now() - t0;
        cpuMicros += cpu.user + cpu.system;
    }
    db.close();
    return { seconds: elapsed / 1000, cpuSeconds: cpuMicros / 1e6 };
}
