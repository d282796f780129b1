/**
 * A pull's connection commits its bookkeeping without waiting for the WAL flush, its pages and its
 * sweep with it, and goes back to the pool with the server's own setting: the SQL the Postgres store
 * runs at each of those steps, and the store itself, checked on a real server.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import type { RecordRow } from '../../src/domain/recordRow.js';
import { openStore } from '../../src/storage/openStore.js';
import { restoreCommitFlush, SKIP_COMMIT_FLUSH } from '../../src/storage/postgres/synchronousCommit.js';
import { createTestDatabase, findPostgres, testEngines } from '../helpers/engines.js';
import { commitPage } from '../helpers/commitPage.js';
import { makeTempDir } from '../helpers/harness.js';

const engines = await testEngines();

test('synchronous_commit: off while a pull holds its lock, the server\'s own in a page and after release', { skip: !engines.includes('postgres') }, async () => {
    const url = (await findPostgres())!;
    const client = new pg.Client({ connectionString: url });
    const other = new pg.Client({ connectionString: url });
    await client.connect();
    await other.connect();
    const lockName = `commit-flush-test-${process.pid}-${Date.now()}`;
    const show = async () => ((await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit);
    const claim = (name: string) => client.query(`SELECT ok, CASE WHEN ok THEN ${SKIP_COMMIT_FLUSH} END FROM (SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok) l`, [name]);
    try {
        const server = await show();
        assert.notEqual(server, 'off', 'the test needs a server that flushes on commit');
        await claim(lockName);
        assert.equal(await show(), 'off', 'bookkeeping of a held pull skips the flush');
        await client.query(`BEGIN; SELECT ${restoreCommitFlush(true)}`);
        assert.equal(await show(), server, 'a page transaction flushes like the server');
        await client.query('COMMIT');
        assert.equal(await show(), 'off', 'and only that transaction');
        await client.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0)), ${restoreCommitFlush(false)}`, [lockName]);
        assert.equal(await show(), server, 'released, the connection is as the pool lent it');
        // A refused claim leaves the setting alone.
        await other.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`${lockName}-b`]);
        await claim(`${lockName}-b`);
        assert.equal(await show(), server);
    } finally {
        await other.end();
        await client.end();
    }
});

test('a pull\'s pages and its sweep commit with the server\'s synchronous_commit: what they log is durable before a reader sees it', { skip: !engines.includes('postgres') }, async () => {
    const dir = makeTempDir('commit-flush-');
    const db = await createTestDatabase('postgres', dir);
    const schema = db.database.schema!;
    const store = await openStore({ url: db.database.url, schema });
    const client = new pg.Client({ connectionString: db.database.url });
    await client.connect();
    try {
        await store.schema.migrate();
        const server = (await client.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s;
        // Each statement on the records table notes the setting its transaction commits with.
        await client.query(`
            CREATE TABLE "${schema}".flush_seen (op text, setting text);
            CREATE FUNCTION "${schema}".note_flush() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO "${schema}".flush_seen VALUES (TG_OP, current_setting('synchronous_commit')); RETURN NULL; END $$;
            CREATE TRIGGER note_flush AFTER INSERT OR UPDATE OR DELETE ON "${schema}".nango_records
                FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".note_flush();`);
        const key = { providerConfigKey: 'hubspot', connectionId: 'conn-1', model: 'Contact', variant: 'base' };
        const at = '2026-11-30T10:00:01.000000Z';
        const later = '2026-11-30T10:00:05.000000Z';
        const row = (id: string): RecordRow => ({ id, data: `{"id":"${id}"}`, keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: at, lastModifiedAt: at, cursor: `c${id}` });
        await store.requests.requestPulls([key], at);
        const swept = await store.pulls.withPull(key, at, async (s) => {
            await commitPage(s, { rows: [row('1'), row('2')], cursor: 'c2', deletes: 'soft', syncedAt: at, pullStartedAt: at });
            // A bookkeeping write in between: the pull's connection is back to skipping the flush.
            await s.fail({ error: 'x', code: 'x', nextAttemptAt: at, at });
            return s.sweep(later, 'soft', later);
        });
        assert.equal(swept, 2);
        const seen = (await client.query<{ op: string; setting: string }>(`SELECT op, setting FROM "${schema}".flush_seen`)).rows;
        // The page's upsert fires the INSERT and the UPDATE statement triggers; the sweep, an UPDATE.
        assert.deepEqual(seen.map((r) => r.op).sort(), ['INSERT', 'UPDATE', 'UPDATE'], 'the page and the sweep');
        for (const r of seen) assert.equal(r.setting, server, `the ${r.op} commits with the server's setting, not the pull's "off"`);
    } finally {
        await client.end();
        await store.close();
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
    }
});
