import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { SyncKey } from '../../src/domain/syncKey.js';
import { COUNT_DRIFT } from '../../src/storage/countDrift.js';
import { openSqliteStore } from '../../src/storage/sqlite/openSqliteStore.js';
import type { Store } from '../../src/storage/store.js';
import { makeTempDir } from '../helpers/harness.js';
import { seededRandom } from '../helpers/seededRandom.js';

// SQLite's listCountDrift reads 4,096 keys at a time in key order, the event loop running between
// reads (keyStates.ts). Over 9,000 keys seeded in an order unlike the key order, six of seven
// drifting (set by SQL: the store contract pins which states drift), it must answer what one
// statement over every key answers, for any limit: a key lost or read twice where two reads meet shows.
const ONE_STATEMENT = `
SELECT provider_config_key AS providerConfigKey, connection_id AS connectionId, model, variant,
       live_rows_at_finish AS liveRowsAtFinish, nango_record_count AS nangoRecordCount
FROM nango_sync_state WHERE ${COUNT_DRIFT} ORDER BY 1, 2, 3, 4 LIMIT ?`;

/** 9,000 keys seeded out of key order, six of seven drifting; `body` gets the store and a second connection. */
async function withDriftingKeys(body: (store: Store, db: Database.Database) => Promise<void>): Promise<void> {
    const dir = makeTempDir('count-drift-reads-');
    const path = join(dir, 'mirror.db');
    const store = openSqliteStore({ path });
    try {
        await store.schema.migrate();
        const random = seededRandom(7);
        const keys: SyncKey[] = Array.from({ length: 9000 }, (_, i) => ({
            providerConfigKey: ['github', 'hubspot', 'slack'][random.int(3)]!,
            connectionId: `conn-${random.int(1_000_000)}-${i}`,
            model: ['Contact', 'Issue'][random.int(2)]!,
            variant: 'base',
        }));
        await store.requests.seedKeys(keys, '2026-12-01T10:00:00.000000Z');
        const db = new Database(path);
        try {
            const settle = (counts: string, where: string) =>
                db.exec(`UPDATE nango_sync_state SET status = 'ok', done_seq = request_seq, ${counts},
                    nango_finished_at = '2026-12-01T10:00:01.000000Z', pull_started_at = '2026-12-01T10:00:02.000000Z',
                    last_success_at = '2026-12-01T10:00:03.000000Z', nango_status_at = '2026-12-01T10:00:04.000000Z' WHERE ${where}`);
            settle('live_rows_at_finish = 2, nango_record_count = 3', 'rowid % 7 <> 1');
            settle('live_rows_at_finish = 3, nango_record_count = 3', 'rowid % 7 = 1');
            await body(store, db);
        } finally {
            db.close();
        }
    } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
    }
}

test('listCountDrift over more keys than one read is the one-statement answer, for every limit', async () => {
    await withDriftingKeys(async (store, db) => {
        const oneStatement = db.prepare(ONE_STATEMENT);
        assert.equal(oneStatement.all(100_000).length, 9000 - 1286);
        for (const limit of [1, 100, 3510, 3511, 7713, 7714, 7715, 100_000]) {
            assert.deepEqual(await store.keys.listCountDrift(limit), oneStatement.all(limit), `limit ${limit}`);
        }
    });
});

test("a read and where it ends are one snapshot: another connection's delete between them skips no key", async () => {
    await withDriftingKeys(async (store, db) => {
        const before = db.prepare(ONE_STATEMENT).all(100_000);
        // Right after the first read's drifting keys, another connection deletes a key inside that
        // read (a purge, or the app): the read's end must still be where the read saw it.
        const statement = Object.getPrototypeOf(db.prepare('SELECT 1')) as { all: (...args: unknown[]) => unknown[] };
        const all = statement.all;
        let deleted = false;
        statement.all = function (this: { source: string }, ...args: unknown[]) {
            const rows = all.apply(this, args);
            if (!deleted && this.source.includes(' AS drifts')) {
                deleted = true;
                db.prepare('DELETE FROM nango_sync_state WHERE rowid = (SELECT rowid FROM nango_sync_state ORDER BY provider_config_key, connection_id, model, variant LIMIT 1 OFFSET 10)').run();
            }
            return rows;
        };
        try {
            assert.deepEqual(await store.keys.listCountDrift(100_000), before);
        } finally {
            statement.all = all;
        }
        assert.ok(deleted, 'the delete ran between the statements');
    });
});
