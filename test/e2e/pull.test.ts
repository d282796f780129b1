import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] pull: pages by stored cursor into the mirror`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { sync: { pageSize: 1000 } } });
        });
        after(() => h.close());

        test('reads every page, not just the first; 2,500 records share one timestamp', async () => {
            const key = testKey('Contact', 'conn-paging');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), 2500, (i) => ({ id: `c-${i}`, name: `Contact ${i}` }), 2500);
            const before = h.fake.requestCount;
            const res = await h.sendSync(key);
            assert.equal(res.status, 200);
            await h.waitIdle();
            assert.equal((await h.rows(key)).length, 2500);
            await assertMirrorExact(h, key);
            const state = (await h.state(key))!;
            assert.equal(state.status, 'ok');
            assert.equal(state.last_pull_pages, 3);
            // Each next page is asked for before the last one is parsed, and never twice or wrongly.
            assert.equal(h.fake.requestCount - before, 3);
            assert.equal(state.records_pulled_total, 2500);
            // The stored cursor is the last record's cursor, never a null next_cursor.
            const last = [...h.fake.records(fakeKey(key)).values()].sort((a, b) => (a.cursor < b.cursor ? -1 : 1));
            assert.ok(last.some((r) => r.cursor === state.cursor));
            assert.notEqual(state.cursor, null);
        });

        test('a page cut short by Nango\'s byte budget is not the end: paging goes on until next_cursor is null', async () => {
            const key = testKey('Contact', 'conn-short');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), 300, (i) => ({ id: `s-${i}`, text: 'y'.repeat(500) }));
            h.fake.maxResponseBytes = 20_000; // about 25 records a page, far below the limit of 1000
            try {
                const before = h.fake.requestCount;
                await h.sendSync(key);
                await h.waitIdle();
                assert.ok(h.fake.requestCount - before >= 10, `${h.fake.requestCount - before} pages`);
                await assertMirrorExact(h, key);
            } finally {
                h.fake.maxResponseBytes = 0;
            }
        });

        test('a NUL or an unpaired surrogate in a record\'s strings is stored as U+FFFD, the same on both engines, and the page commits (Postgres\'s jsonb refuses them)', async () => {
            const key = testKey('Contact', 'conn-nul');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            const records = [
                { id: 'n-0', text: 'a\u0000b', 'k\u0000': 1, list: ['\u0000'] },
                { id: 'n-1', lone: 'x\ud800y', low: '\udc00', pair: '😀\ud83d\ude00', literal: '\\u0000' },
                { id: 'n-2\u0000', note: 'the id too' },
            ];
            h.fake.saveGenerated(fakeKey(key), records.length, (i) => records[i]!);
            await h.sendSync(key);
            await h.waitIdle();
            assert.equal((await h.state(key))!.status, 'ok');
            const stored = Object.fromEntries((await h.rows(key)).map((r) => [r.id, JSON.parse(r.data) as unknown]));
            assert.deepEqual(stored, {
                'n-0': { id: 'n-0', text: 'a\ufffdb', 'k\ufffd': 1, list: ['\ufffd'] },
                'n-1': { id: 'n-1', lone: 'x\ufffdy', low: '\ufffd', pair: '😀😀', literal: '\\u0000' },
                'n-2\ufffd': { id: 'n-2\ufffd', note: 'the id too' },
            });
        });

        test('gzipped answers (asked for, as fetch and Nango\'s SDK do) are decompressed', async () => {
            const key = testKey('Contact', 'conn-gzip');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), 1200, (i) => ({ id: `g-${i}`, text: 'é'.repeat(300) }));
            h.fake.gzipAnswers = true;
            try {
                const before = h.fake.requests.length;
                await h.sendSync(key);
                await h.waitIdle();
                const asked = h.fake.requests.slice(before).filter((r) => r.path.startsWith('/records'));
                assert.ok(asked.length >= 2 && asked.every((r) => /gzip/.test(String(r.headers['accept-encoding']))));
                await assertMirrorExact(h, key);
            } finally {
                h.fake.gzipAnswers = false;
            }
        });

        test('asks only for model, variant (when not base), cursor and limit', async () => {
            const key = testKey('Ticket', 'conn-query', 'eu');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 1, subject: 'hello' }]);
            const before = h.fake.requests.length;
            await h.sendSync(key);
            await h.waitIdle();
            const requests = h.fake.requests.slice(before).filter((r) => r.path.startsWith('/records'));
            assert.equal(requests.length, 1);
            assert.deepEqual(Object.keys(requests[0]!.query).sort(), ['limit', 'model', 'variant']);
            assert.equal(requests[0]!.query['variant'], 'eu');
            assert.equal(requests[0]!.query['limit'], '1000');
            await assertMirrorExact(h, key);
            // The next pull starts from the stored cursor.
            h.fake.save(fakeKey(key), [{ id: 2, subject: 'again' }]);
            await h.sendSync(key);
            await h.waitIdle();
            const next = h.fake.requests.filter((r) => r.path.startsWith('/records')).at(-1)!;
            assert.deepEqual(Object.keys(next.query).sort(), ['cursor', 'limit', 'model', 'variant']);
            await assertMirrorExact(h, key);
            const base = testKey('Ticket', 'conn-query');
            h.fake.save(fakeKey(base), [{ id: 1 }]);
            await h.sendSync(base);
            await h.waitIdle();
            assert.equal(h.fake.requests.filter((r) => r.path.startsWith('/records')).at(-1)!.query['variant'], undefined);
            assert.equal((await h.rows(base)).length, 1);
            assert.equal((await h.rows(key)).length, 2, 'variants are separate keys');
        });

        test('updates, prunes, both kinds of delete and undeletes land exactly (soft mode)', async () => {
            const key = testKey('Deal', 'conn-rules');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [1, 2, 3, 4, 5, 6].map((i) => ({ id: `d${i}`, amount: i, owner: { name: 'Ana' } })));
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key);

            h.fake.save(fk, [{ id: 'd1', amount: 100, owner: { name: 'Bo' } }]);
            h.fake.batchDelete(fk, [{ id: 'd2' }]); // batchDelete's usual shape: only the id
            h.fake.trackDelete(fk, ['d3']); // keeps the last payload
            h.fake.prune(fk, ['d4']); // behind the cursor: the mirror never hears of it and keeps the payload
            h.fake.batchDelete(fk, [{ id: 'never-seen' }]);
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key);
            // Soft delete with only the id keeps the last full payload.
            assert.deepEqual(JSON.parse((await h.row(key, 'd2'))!.data), { id: 'd2', amount: 2, owner: { name: 'Ana' } });
            assert.equal((await h.row(key, 'd2'))!.last_action, 'DELETED');
            assert.deepEqual(JSON.parse((await h.row(key, 'd4'))!.data), { id: 'd4', amount: 4, owner: { name: 'Ana' } });
            // A tombstone for an unseen id is stored as {id}.
            assert.deepEqual(JSON.parse((await h.row(key, 'never-seen'))!.data), { id: 'never-seen' });
            assert.notEqual((await h.row(key, 'never-seen'))!.deleted_at, null);

            // A record that comes back after a delete is live again.
            h.fake.save(fk, [{ id: 'd2', amount: 22, owner: { name: 'Cy' } }]);
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key);
            assert.equal((await h.row(key, 'd2'))!.deleted_at, null);
            assert.equal((await h.row(key, 'd2'))!.last_action, 'ADDED');
        });

        test('a pruned record never seen before is stored with data {"id": …}', async () => {
            const key = testKey('Note', 'conn-pruned');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [{ id: 'n1', text: 'old' }]);
            h.fake.prune(fk, ['n1']);
            await h.sendSync(key);
            await h.waitIdle();
            const row = (await h.row(key, 'n1'))!;
            assert.deepEqual(JSON.parse(row.data), { id: 'n1' });
            assert.notEqual(row.pruned_at, null);
        });

        test('unicode and integer ids; 5 and "5" are the same record', async () => {
            const key = testKey('Person', 'conn-ids');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [{ id: 5, name: 'five' }, { id: 'Zoë-😀', name: 'emoji' }, { id: "o'brien; DROP TABLE nango_records; --", name: 'sql' }, { id: '\u2028', name: 'line sep' }]);
            await h.sendSync(key);
            await h.waitIdle();
            h.fake.save(fk, [{ id: '5', name: 'five again' }]);
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key);
            assert.equal((await h.rows(key)).length, 4);
            assert.equal(JSON.parse((await h.row(key, '5'))!.data).name, 'five again');
            assert.equal(JSON.parse((await h.row(key, 'Zoë-😀'))!.data).name, 'emoji');
        });

        test('microseconds are kept: last_modified_at is Nango\'s to the microsecond', async () => {
            const key = testKey('Contact', 'conn-micros');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [{ id: 'a' }]);
            await h.sendSync(key);
            await h.waitIdle();
            const row = (await h.row(key, 'a'))!;
            assert.match(row.last_modified_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
            assert.match(row.first_seen_at, /\.\d{6}Z$/);
            await assertMirrorExact(h, key);
        });
    });

    describe(`[${engine}] pull: hard deletes`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { sync: { deletes: 'hard' } } });
        });
        after(() => h.close());

        test('deleted records are removed; unseen deletes leave nothing', async () => {
            const key = testKey('Deal', 'conn-hard');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [{ id: 1 }, { id: 2 }, { id: 3 }]);
            await h.sendSync(key);
            await h.waitIdle();
            h.fake.batchDelete(fk, [{ id: 1 }]);
            h.fake.trackDelete(fk, [2]);
            h.fake.batchDelete(fk, [{ id: 'ghost' }]);
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key, 'hard');
            assert.deepEqual((await h.rows(key)).map((r) => r.id), ['3']);
        });
    });

    describe(`[${engine}] pull: pruned rows seen on a re-read`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine });
        });
        after(() => h.close());

        test('a prune seen at the same last_modified_at updates metadata and keeps the payload', async () => {
            const key = testKey('Deal', 'conn-prune-reread');
            const fk = fakeKey(key);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fk, [{ id: 'p1', amount: 1 }]);
            await h.sendSync(key);
            await h.waitIdle();
            // Simulate a backfill from the start (as a resync would): forget the cursor, then read again.
            h.fake.prune(fk, ['p1']);
            await h.reader.exec('UPDATE nango_sync_state SET cursor = NULL');
            await h.sendSync(key);
            await h.waitIdle();
            const row = (await h.row(key, 'p1'))!;
            assert.notEqual(row.pruned_at, null);
            assert.deepEqual(JSON.parse(row.data), { id: 'p1', amount: 1 });
            await assertMirrorExact(h, key);
        });
    });
}
