import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { RecordRow } from '../../src/domain/recordRow.js';
import { openSqliteStore } from '../../src/storage/sqlite/openSqliteStore.js';
import { commitPage } from '../helpers/commitPage.js';
import { makeTempDir } from '../helpers/harness.js';

// The SQLite page writer logs a page's inserted rows by reading them back by rowid range
// (pageWriter.ts), which holds while each insert takes the highest rowid + 1. Once the highest
// rowid SQLite can give is taken, it picks new rowids at random: the writer must then log each
// insert on its own, never a range that takes in other rows.
test('once the highest rowid is taken, inserts get random rowids and each is still logged once, in page order', async () => {
    const dir = makeTempDir('changes-rowids-');
    const path = join(dir, 'mirror.db');
    const store = openSqliteStore({ path });
    try {
        await store.schema.migrate();
        const at = '2026-12-01T10:00:00.000000Z';
        const key = { providerConfigKey: 'hubspot', connectionId: 'conn-1', model: 'Contact', variant: 'base' };
        const row = (id: string): RecordRow => ({ id, data: `{"id":"${id}"}`, keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: at, lastModifiedAt: at, cursor: `c${id}` });
        const page = (ids: string[]) => ({ rows: ids.map(row), cursor: `c${ids.at(-1)}`, deletes: 'soft' as const, syncedAt: at, pullStartedAt: at });
        await store.requests.requestPulls([key], at);
        // Another key's rows, one of them at the highest rowid there is.
        const other = new Database(path);
        const insert = other.prepare(`INSERT INTO nango_records (rowid, provider_config_key, connection_id, model, variant, id, data, last_action, first_seen_at, last_modified_at, cursor, synced_at)
            VALUES (?, 'other', 'conn-9', 'Contact', 'base', ?, '{}', 'ADDED', ?, ?, 'c', ?)`);
        for (let i = 1; i <= 40; i++) insert.run(i * 1000, `o${i}`, at, at, at);
        insert.run(9223372036854775807n, 'o-max', at, at, at);
        other.close();
        const ids = Array.from({ length: 30 }, (_, i) => `a${i}`);
        await store.pulls.withPull(key, at, async (s) => {
            await commitPage(s, page(ids));
        });
        const changes = await store.changes.readChanges({ after: 0, limit: 100 });
        assert.deepEqual(changes.map((c) => [c.connectionId, c.recordId, c.action]), ids.map((id) => ['conn-1', id, 'added']));
    } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
    }
});
