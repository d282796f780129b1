/**
 * A pull's connection commits its bookkeeping without waiting for the WAL flush, its pages with
 * it, and goes back to the pool with the server's own setting: the SQL the Postgres store runs at
 * each of those steps, checked on a real server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { restoreCommitFlush, SKIP_COMMIT_FLUSH } from '../../src/storage/postgres/synchronousCommit.js';
import { findPostgres, testEngines } from '../helpers/engines.js';

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
