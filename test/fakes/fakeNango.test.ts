import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { decodeCursor } from './fakeCursor.js';
import { FakeNango, type FakeNangoOptions } from './fakeNango.js';
import { spawnFakeNango } from './fakeNangoProcess.js';
import { toIsoMillis, toPostgresJson } from './nangoTime.js';

const API_KEY = '11111111-2222-4333-8444-555555555555';
const PCK = 'hubspot';
const CONN = 'conn-1';
const KEY = { providerConfigKey: PCK, connectionId: CONN, model: 'Contact' };
const START = 1776192363097459n; // 2026-04-14T18:46:03.097459Z
const START_MS = Number(START / 1000n);

interface Meta {
    first_seen_at: string;
    last_modified_at: string;
    last_action: 'ADDED' | 'UPDATED' | 'DELETED';
    deleted_at: string | null;
    pruned_at: string | null;
    cursor: string;
}
interface Rec {
    id: string;
    _nango_metadata: Meta;
    [key: string]: unknown;
}
interface Page {
    next_cursor: string | null;
    records: Rec[];
}
interface Res {
    status: number;
    headers: Headers;
    json: unknown;
}

/** A fake with a deterministic clock: every mutation advances time by exactly 1 µs. */
async function startFake(t: TestContext, opts: Partial<FakeNangoOptions> = {}): Promise<FakeNango> {
    let now = START;
    const fake = new FakeNango({ apiKey: API_KEY, now: () => now++, wallClockMs: () => START_MS + 60_000, ...opts });
    fake.addConnection(PCK, CONN);
    await fake.start();
    t.after(() => fake.stop());
    return fake;
}

async function get(fake: FakeNango, query: string, opts: { path?: string; headers?: Record<string, string> } = {}): Promise<Res> {
    const res = await fetch(`${fake.baseUrl}${opts.path ?? '/records'}?${query}`, {
        headers: { authorization: `Bearer ${API_KEY}`, 'connection-id': CONN, 'provider-config-key': PCK, ...opts.headers }
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

async function page(fake: FakeNango, query: string): Promise<Page> {
    const res = await get(fake, query);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json as Page;
}

function errorCode(res: Res): string {
    return (res.json as { error: { code: string } }).error.code;
}

test('query is validated strictly (400 invalid_query_params)', async (t) => {
    const fake = await startFake(t);
    const unknown = await get(fake, 'model=Contact&foo=1');
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.json, {
        error: { code: 'invalid_query_params', errors: [{ code: 'unrecognized_keys', message: 'Unrecognized key: "foo"', path: [] }] }
    });
    const bad = [
        '', // model missing
        'model=contact',
        'model=C',
        'model=Contact&model=Other',
        'model=Contact&limit=0',
        'model=Contact&limit=10001',
        'model=Contact&limit=abc',
        'model=Contact&cursor=',
        `model=Contact&cursor=${'a'.repeat(1001)}`,
        'model=Contact&modified_after=2026-04-14T18:46:03%2B00:00', // offset instead of Z
        'model=Contact&modified_after=2025-01-01T00:00:00Z', // older than 12 months
        'model=Contact&filter=Added',
        'model=Contact&variant=a.b',
        `model=Contact&${Array.from({ length: 101 }, (_, i) => `ids=${i}`).join('&')}`,
        'model=Contact&ids[x]=1'
    ];
    for (const q of bad) {
        const res = await get(fake, q);
        assert.equal(res.status, 400, q);
        assert.equal(errorCode(res), 'invalid_query_params', q);
    }
    for (const q of ['model=Contact&limit=10000', 'model=Contact&filter=added,DELETED', 'model=Contact&delta=2026-04-14T18:46Z', 'model=Contact&ids[]=1']) {
        assert.equal((await get(fake, q)).status, 200, q);
    }
});

test('GET /sync/status: a strict query, one item per (enabled sync, variant, connection), finishedAt set by a change (protocol §6.1)', async (t) => {
    const fake = await startFake(t);
    fake.setSyncs(PCK, [{ name: 'contacts', models: ['Contact'] }, { name: 'off', models: ['Deal'], enabled: false }]);
    for (const bad of ['provider_config_key=hubspot', 'syncs=*', `provider_config_key=${PCK}&syncs=*&model=Contact`, `provider_config_key=${PCK}&syncs=a&syncs=b`, 'provider_config_key=bad%2Fkey&syncs=*']) {
        const res = await get(fake, bad, { path: '/sync/status' });
        assert.equal(res.status, 400, bad);
        assert.equal(errorCode(res), 'invalid_query_params', bad);
    }
    fake.addConnection(PCK, 'never-ran');
    fake.save(KEY, [{ id: 'a' }, { id: 'b' }]);
    fake.save({ ...KEY, variant: 'emea' }, [{ id: 'v' }]);
    const res = await get(fake, `provider_config_key=${PCK}&syncs=*`, { path: '/sync/status' });
    assert.equal(res.status, 200);
    const items = (res.json as { syncs: Array<Record<string, unknown>> }).syncs;
    const view = items.map((i) => [i['connection_id'], i['name'], i['variant'], i['status'], 'finishedAt' in i, i['recordCount']]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    assert.deepEqual(view, [
        [CONN, 'contacts', 'base', 'SUCCESS', true, { Contact: 2 }],
        [CONN, 'contacts', 'emea', 'SUCCESS', true, { Contact: 2 }],
        ['never-ran', 'contacts', 'base', 'SUCCESS', false, { Contact: 0 }],
    ], 'the disabled sync is not listed; a variant reports its base count; a sync with no run has no finishedAt');
    // This fake's wall clock stands still at START_MS + 60 s.
    assert.equal(items.find((i) => i['connection_id'] === CONN && i['variant'] === 'base')!['finishedAt'], new Date(START_MS + 60_000).toISOString());
    assert.deepEqual(Object.keys(items[0]!).slice(0, 3), ['id', 'connection_id', 'type'], "syncManager.syncStatus()'s key order");
    const unknown = await get(fake, 'provider_config_key=nobody&syncs=*', { path: '/sync/status' });
    assert.deepEqual([unknown.status, unknown.json], [200, { syncs: [] }], 'an unknown integration is an empty list');
});

test('paths: /records and /records/ serve, anything else is a JSON 404', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [{ id: 'a' }]);
    assert.equal((await get(fake, 'model=Contact', { path: '/records/' })).status, 200);
    assert.equal((await page(fake, 'model=Contact')).records.length, 1);
    // (/connections and /scripts/config are served too: test/e2e/discovery.test.ts; /sync/status below)
    const res = await get(fake, 'model=Contact', { path: '/sync/trigger' });
    assert.equal(res.status, 404);
    assert.equal(errorCode(res), 'not_found');
    // an unknown model is just empty
    assert.deepEqual(await page(fake, 'model=Unknown'), { next_cursor: null, records: [] });
});

test('2,500 records sharing one timestamp page exactly once in (updated_at, uuid) order', async (t) => {
    const fake = await startFake(t);
    const saved = fake.save(KEY, Array.from({ length: 2500 }, (_, i) => ({ id: `r${i}`, n: i })));
    assert.equal(saved.added, 2500);
    const seen = new Set<string>();
    let prev: { micros: bigint; uuid: string } | undefined;
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
        const p = await page(fake, `model=Contact&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        sizes.push(p.records.length);
        for (const r of p.records) {
            seen.add(r.id);
            assert.equal(r._nango_metadata.last_modified_at, toPostgresJson(saved.updatedAt));
            const pos = decodeCursor(r._nango_metadata.cursor);
            assert.ok(pos);
            if (prev) assert.ok(pos.micros > prev.micros || (pos.micros === prev.micros && pos.uuid > prev.uuid), 'ordered');
            prev = pos;
        }
        const last = p.records[p.records.length - 1];
        if (sizes.length < 3) assert.equal(p.next_cursor, last?._nango_metadata.cursor);
        else assert.equal(p.next_cursor, null);
        cursor = p.next_cursor;
    } while (cursor);
    assert.deepEqual(sizes, [1000, 1000, 500]);
    assert.equal(seen.size, 2500);
    // the default limit is 100
    assert.equal((await page(fake, 'model=Contact')).records.length, 100);
    // exactly limit rows left → the last page still says null
    const all = await page(fake, 'model=Contact&limit=2500');
    assert.equal(all.records.length, 2500);
    assert.equal(all.next_cursor, null);
});

test('records render the §4.2 shape and cursors hold microsecond Postgres JSON', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [{ id: 5, name: 'five', nested: { a: 1 } }]);
    const [rec] = (await page(fake, 'model=Contact')).records;
    assert.ok(rec);
    assert.deepEqual(Object.keys(rec), ['id', 'name', 'nested', '_nango_metadata']);
    assert.equal(rec.id, '5'); // numeric ids come back as strings
    const meta = rec._nango_metadata;
    assert.equal(meta.first_seen_at, '2026-04-14T18:46:03.097459+00:00');
    assert.equal(meta.last_modified_at, meta.first_seen_at);
    assert.equal(meta.last_action, 'ADDED');
    assert.equal(meta.deleted_at, null);
    assert.equal(meta.pruned_at, null);
    assert.match(Buffer.from(meta.cursor, 'base64').toString(), /^2026-04-14T18:46:03\.097459\+00:00\|\|[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(fake.records(KEY).get('5')?.payload?.['id'], '5');
});

test('an invalid cursor answers 500 server_error; a foreign valid one works positionally', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [{ id: 'a' }]);
    const bad = ['garbage', Buffer.from('a||b').toString('base64'), 'MjAyMy0xMS0xN1QxMTo0NzoxNC40NDcrMDI6MDB8fDAzZTA1NzIxLWNiZmQtNGYxNS1iYTNhLWFlNjM2Y2MwNmEw=='];
    for (const c of bad) {
        const res = await get(fake, `model=Contact&cursor=${encodeURIComponent(c)}`);
        assert.equal(res.status, 500);
        assert.deepEqual(res.json, { error: { code: 'server_error', message: 'Failed to fetch records' } });
    }
    const docs = 'MjAyNC0wMy0wNFQwNjo1OTo1MS40NzE0NDEtMDU6MDB8fDE1Y2NjODA1LTY0ZDUtNDk0MC1hN2UwLTQ1ZmM3MDQ5OTdhMQ==';
    assert.equal((await page(fake, `model=Contact&cursor=${encodeURIComponent(docs)}`)).records.length, 1);
});

test('auth, content type, headers and connections fail like Nango', async (t) => {
    const fake = await startFake(t);
    const wrongKey = await get(fake, 'model=Contact', { headers: { authorization: 'Bearer 99999999-2222-4333-8444-555555555555' } });
    assert.equal(wrongKey.status, 401);
    assert.equal(errorCode(wrongKey), 'unknown_account');
    assert.equal((await get(fake, 'model=Contact', { headers: { authorization: 'Basic x' } })).status, 401);
    assert.equal((await get(fake, 'model=Contact', { headers: { 'content-type': 'text/plain' } })).status, 415);
    assert.equal((await get(fake, 'model=Contact', { headers: { 'content-type': 'application/json; charset=utf-8' } })).status, 200);

    const badHeader = await get(fake, 'model=Contact', { headers: { 'connection-id': 'a#b' } });
    assert.equal(badHeader.status, 400);
    assert.equal(errorCode(badHeader), 'invalid_headers');

    const unknown = await get(fake, 'model=Contact', { headers: { 'connection-id': 'nope' } });
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.json, {
        error: { code: 'unknown_connection', message: 'Provided ConnectionId and ProviderConfigKey does not match a valid connection' }
    });
    // the connection check comes before the cursor is decoded
    assert.equal((await get(fake, 'model=Contact&cursor=bad', { headers: { 'connection-id': 'nope' } })).status, 400);

    fake.save(KEY, [{ id: 'a' }]);
    assert.equal(fake.deleteConnection(PCK, CONN), true);
    assert.equal(errorCode(await get(fake, 'model=Contact')), 'unknown_connection');
    fake.addConnection(PCK, CONN);
    assert.deepEqual((await page(fake, 'model=Contact')).records, []); // hard-deleted with the connection
});

test('deletes and pruning render as §4.4 says; undelete is ADDED again', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [
        { id: 'a', name: 'A' },
        { id: 'b', name: 'B' },
        { id: 'c', name: 'C' }
    ]);
    fake.batchDelete(KEY, [{ id: 'a' }]);
    fake.trackDelete(KEY, ['b']);
    const pruneBefore = fake.records(KEY).get('c')?.lastModifiedAt;
    fake.prune(KEY, ['c']);

    const byId = new Map((await page(fake, 'model=Contact')).records.map((r) => [r.id, r]));
    const a = byId.get('a');
    assert.deepEqual(Object.keys(a ?? {}), ['id', '_nango_metadata']);
    assert.equal(a?._nango_metadata.last_action, 'DELETED');
    assert.equal(a?._nango_metadata.deleted_at, a?._nango_metadata.last_modified_at);
    const b = byId.get('b');
    assert.equal(b?.['name'], 'B'); // trackDeletes keeps the payload
    assert.equal(b?._nango_metadata.last_action, 'DELETED');
    const c = byId.get('c');
    assert.deepEqual(Object.keys(c ?? {}), ['id', '_nango_metadata']);
    assert.notEqual(c?._nango_metadata.pruned_at, null);
    assert.equal(c?._nango_metadata.last_modified_at, pruneBefore); // pruning does not move the cursor
    assert.equal(c?._nango_metadata.last_action, 'ADDED');

    assert.equal((await page(fake, 'model=Contact&filter=deleted')).records.length, 2);
    assert.deepEqual((await page(fake, 'model=Contact&filter=added,deleted')).records.map((r) => r.id), ['c']);

    // undelete: created_at = updated_at = now → ADDED, first_seen_at reset
    const cursorBefore = (await page(fake, 'model=Contact')).records.at(-1)?._nango_metadata.cursor ?? '';
    const undelete = fake.save(KEY, [{ id: 'a', name: 'A again' }]);
    assert.equal(undelete.added, 1);
    const after = await page(fake, `model=Contact&cursor=${encodeURIComponent(cursorBefore)}`);
    assert.equal(after.records.length, 1);
    assert.equal(after.records[0]?._nango_metadata.last_action, 'ADDED');
    assert.equal(after.records[0]?._nango_metadata.first_seen_at, toPostgresJson(undelete.updatedAt));
    assert.equal(after.records[0]?.['name'], 'A again');

    // identical re-save of the pruned record restores it without moving it
    fake.save(KEY, [{ id: 'c', name: 'C' }]);
    assert.equal((await page(fake, `model=Contact&cursor=${encodeURIComponent(cursorBefore)}`)).records.length, 1);
    const restored = fake.records(KEY).get('c');
    assert.equal(restored?.pruned, false);
    assert.equal(restored?.payload?.['name'], 'C');
    assert.equal(restored?.lastModifiedAt, pruneBefore);
});

test('updates move a record to the tail; identical re-saves do not', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [
        { id: 1, v: 1 },
        { id: 2, v: 1 }
    ]);
    const first = await page(fake, 'model=Contact');
    const cursor = encodeURIComponent(first.records.at(-1)?._nango_metadata.cursor ?? '');
    assert.equal(fake.save(KEY, [{ id: 1, v: 1 }]).unchanged, 1);
    assert.deepEqual((await page(fake, `model=Contact&cursor=${cursor}`)).records, []);
    const upd = fake.save(KEY, [
        { id: 1, v: 2 },
        { id: 2, v: 1 }
    ]);
    assert.deepEqual([upd.added, upd.updated, upd.unchanged], [0, 1, 1]);
    const next = await page(fake, `model=Contact&cursor=${cursor}`);
    assert.deepEqual(next.records.map((r) => [r.id, r._nango_metadata.last_action, r['v']]), [['1', 'UPDATED', 2]]);
    assert.equal((await page(fake, 'model=Contact&filter=updated')).records.length, 1);

    // modified_after is inclusive at millisecond precision
    const ms = toIsoMillis(upd.updatedAt);
    assert.equal((await page(fake, `model=Contact&modified_after=${ms}`)).records.length, 2); // same ms as the first save
    assert.equal((await page(fake, `model=Contact&modified_after=${toIsoMillis(upd.updatedAt + 1000n)}`)).records.length, 0);
    // ids= matches external ids, either syntax
    assert.deepEqual((await page(fake, 'model=Contact&ids=2&ids=9')).records.map((r) => r.id), ['2']);
    assert.deepEqual((await page(fake, 'model=Contact&ids[]=1&ids[]=2')).records.length, 2);
});

test('emptyCache hard-deletes; re-saved records come back ADDED with the same uuid', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [{ id: 'x' }]);
    const before = fake.records(KEY).get('x');
    const cursor = encodeURIComponent(before?.cursor ?? '');
    assert.equal(fake.emptyCache(KEY), 1);
    assert.deepEqual((await page(fake, 'model=Contact')).records, []);
    fake.save(KEY, [{ id: 'x' }]);
    const again = await page(fake, `model=Contact&cursor=${cursor}`);
    assert.equal(again.records[0]?._nango_metadata.last_action, 'ADDED');
    assert.equal(fake.records(KEY).get('x')?.uuid, before?.uuid);
});

test('variants live in their own store model', async (t) => {
    const fake = await startFake(t);
    fake.save(KEY, [{ id: 'base-1' }]);
    fake.save({ ...KEY, variant: 'v2' }, [{ id: 'v2-1' }]);
    assert.deepEqual((await page(fake, 'model=Contact')).records.map((r) => r.id), ['base-1']);
    assert.deepEqual((await page(fake, 'model=Contact&variant=base')).records.map((r) => r.id), ['base-1']);
    assert.deepEqual((await page(fake, 'model=Contact&variant=v2')).records.map((r) => r.id), ['v2-1']);
});

test('rateLimit429 answers 429 with Retry-After 0 and X-RateLimit-*', async (t) => {
    const fake = await startFake(t);
    fake.rateLimit429(1);
    const limited = await get(fake, 'model=Contact');
    assert.equal(limited.status, 429);
    assert.deepEqual(limited.json, { error: { code: 'too_many_request', method: 'GET', path: '/records' } });
    assert.equal(limited.headers.get('retry-after'), '0');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    assert.match(limited.headers.get('x-ratelimit-reset') ?? '', /^\d+$/);
    const ok = await get(fake, 'model=Contact');
    assert.equal(ok.status, 200);
    assert.ok(ok.headers.get('x-ratelimit-limit'));
    assert.ok(ok.headers.get('x-ratelimit-remaining'));
    assert.ok(ok.headers.get('x-ratelimit-reset'));
});

test('rateLimit429Share answers 429 to the requests its draw picks, until clearFaults', async (t) => {
    const fake = await startFake(t);
    const draws = [0.1, 0.5, 0.19, 0.2];
    fake.rateLimit429Share(0.2, 1, () => draws.shift() ?? 1);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(fake, 'model=Contact')).status);
    assert.deepEqual(statuses, [429, 200, 429, 200]);
    fake.rateLimit429Share(1, 1, () => 0);
    const limited = await get(fake, 'model=Contact');
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    fake.clearFaults();
    assert.equal((await get(fake, 'model=Contact')).status, 200);
});

test('an enforced rate limit answers 429 once the window budget is spent', async (t) => {
    const fake = await startFake(t, { rateLimitPerMinute: 2, enforceRateLimit: true });
    assert.equal((await get(fake, 'model=Contact')).headers.get('x-ratelimit-remaining'), '1');
    assert.equal((await get(fake, 'model=Contact')).status, 200);
    const res = await get(fake, 'model=Contact');
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '60');
});

test('fault injection: socket reset, queued failures, injector and delays', async (t) => {
    const fake = await startFake(t);
    fake.failNext(1, { destroy: true });
    await assert.rejects(fetch(`${fake.baseUrl}/records?model=Contact`, { headers: { authorization: `Bearer ${API_KEY}` } }));
    assert.equal(fake.requests.at(-1)?.status, 0);

    fake.failNext(2, { status: 503, body: 'upstream unavailable' });
    for (let i = 0; i < 2; i++) {
        const res = await fetch(`${fake.baseUrl}/records?model=Contact`); // faults run before auth
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
        assert.equal(await res.text(), 'upstream unavailable');
    }
    assert.equal((await get(fake, 'model=Contact')).status, 200);

    fake.inject(({ n, query }) => (query.get('limit') === '7' ? { status: 502, body: { n } } : undefined));
    const injected = await get(fake, 'model=Contact&limit=7');
    assert.equal(injected.status, 502);
    assert.deepEqual(injected.json, { n: fake.requestCount });
    fake.inject(undefined);
    assert.equal((await get(fake, 'model=Contact&limit=7')).status, 200);

    fake.failNext(1, { delayMs: 50 });
    const started = Date.now();
    assert.equal((await get(fake, 'model=Contact')).status, 200);
    assert.ok(Date.now() - started >= 45);
});

test('request log records path, query, headers and status, capped by maxLog', async (t) => {
    const fake = await startFake(t, { maxLog: 3 });
    for (let i = 0; i < 5; i++) await get(fake, `model=Contact&limit=${i + 1}&ids=a&ids=b`);
    assert.equal(fake.requestCount, 5);
    assert.equal(fake.requests.length, 3);
    const last = fake.requests.at(-1);
    assert.equal(last?.n, 5);
    assert.equal(last?.path, '/records');
    assert.deepEqual(last?.query, { model: 'Contact', limit: '5', ids: ['a', 'b'] });
    assert.equal(last?.headers['connection-id'], CONN);
    assert.equal(last?.status, 200);
});

test('child-process fake: ready line, control commands, stop', async () => {
    const nango = await spawnFakeNango({ apiKey: API_KEY });
    try {
        await nango.call('addConnection', { providerConfigKey: PCK, connectionId: CONN });
        const saved = await nango.call<{ added: number }>('saveGenerated', { key: KEY, count: 1500, recordBytes: 1000 });
        assert.equal(saved.added, 1500);
        const res = await fetch(`${nango.baseUrl}/records?model=Contact&limit=1000`, {
            headers: { authorization: `Bearer ${API_KEY}`, 'connection-id': CONN, 'provider-config-key': PCK }
        });
        const text = await res.text();
        const body = JSON.parse(text) as Page;
        assert.equal(body.records.length, 1000);
        assert.ok(body.next_cursor);
        const avg = Buffer.byteLength(text) / 1000;
        assert.ok(avg > 900 && avg < 1100, `~1 KB per record, got ${avg}`);
        await assert.rejects(nango.call('nope'), /unknown command/);
        assert.equal((await nango.call<{ requestCount: number }>('stats')).requestCount, 1);

        // saveGeneratedAll is a sync run per key; setClockOffset moves the fake's clock, and so the runs' finishedAt.
        await nango.call('setSyncs', { providerConfigKey: PCK, syncs: [{ name: 'deals', models: ['Deal'] }] });
        await nango.call('setClockOffset', { ms: -3_600_000 });
        await nango.call('saveGeneratedAll', { keys: [{ ...KEY, model: 'Deal' }], count: 2 });
        const status = (await (await fetch(`${nango.baseUrl}/sync/status?provider_config_key=${PCK}&syncs=*`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
            syncs: Array<{ finishedAt?: string; recordCount: Record<string, number> }>;
        };
        assert.deepEqual(status.syncs.map((s) => s.recordCount), [{ Deal: 2 }]);
        assert.ok(Date.parse(status.syncs[0]!.finishedAt!) < Date.now() - 3_000_000, `finishedAt an hour back, got ${status.syncs[0]!.finishedAt}`);
    } finally {
        await nango.stop();
    }
    assert.notEqual(nango.child.exitCode, null);
});
