import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqliteStore } from '../../src/storage/sqlite/openSqliteStore.js';
import { commitPage } from '../helpers/commitPage.js';

// Where SQLite cannot keep a WAL (here an in-memory database), there is no WAL file to flush after
// a commit: requests and pages must commit durably on their own instead of failing.
test('without a WAL, pull requests and pages commit (FULL) and nothing waits for a WAL flush', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    try {
        await store.schema.migrate();
        const key = { providerConfigKey: 'hubspot', connectionId: 'conn-mem', model: 'Contact', variant: 'base' };
        const at = '2026-11-30T10:00:00.000000Z';
        await store.requests.requestPulls([key], at);
        await store.pulls.withPull(key, at, async (session) => {
            assert.equal(session.start.requestSeq, 1);
            const row = { id: '1', data: '{"id":"1"}', keepData: false, lastAction: 'ADDED' as const, deletedAt: null, prunedAt: null, firstSeenAt: at, lastModifiedAt: at, cursor: 'c1' };
            const result = await commitPage(session, { rows: [row], cursor: 'c1', deletes: 'soft', syncedAt: at, pullStartedAt: at });
            assert.equal(result.upserted, 1);
            await session.finish({ requestSeq: 1, startedAt: at, records: 1, pages: 1, at });
        });
        const status = await store.keys.getKeyStatus(key);
        assert.deepEqual([status?.status, status?.doneSeq, status?.liveRows, status?.cursor], ['ok', 1, 1, 'c1']);
    } finally {
        await store.close();
    }
});
