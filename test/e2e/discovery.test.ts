import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { createDiscoveryClient, type DiscoveryClientOptions } from '../../src/nango/discovery.js';
import { createRateLimitGate } from '../../src/nango/rateLimitGate.js';
import { FakeNango } from '../fakes/fakeNango.js';
import { testEngines } from '../helpers/engines.js';
import { API_KEY, assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness, type LogLine, type TestKey } from '../helpers/harness.js';

const engines = await testEngines();

async function startFake(t?: TestContext): Promise<FakeNango> {
    const fake = new FakeNango({ apiKey: API_KEY });
    await fake.start();
    t?.after(() => fake.stop());
    return fake;
}

async function getJson(fake: FakeNango, path: string, apiKey = API_KEY): Promise<{ status: number; headers: Headers; json: any }> {
    const res = await fetch(`${fake.baseUrl}${path}`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
    return { status: res.status, headers: res.headers, json: await res.json() };
}

function clientFor(fake: FakeNango, overrides: Partial<DiscoveryClientOptions> = {}) {
    return createDiscoveryClient({
        host: fake.baseUrl!,
        apiKey: API_KEY,
        timeoutMs: 5000,
        retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
        gate: createRateLimitGate(),
        logger: pino({ level: 'silent' }),
        ...overrides,
    });
}

const discoveryLines = (logs: LogLine[]) => logs.filter((l) => /^discovery found/.test(l.msg));

// ---- the fake's discovery endpoints, against Nango's real shapes ----------------------------

describe('fake Nango: GET /connections and GET /scripts/config', () => {
    test('GET /connections: auth, strict query, ApiPublicConnection items, created DESC, offset paging', async (t) => {
        const fake = await startFake(t);
        fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }], { provider: 'hubspot' });
        for (const c of ['c1', 'c2', 'c3']) fake.addConnection('hubspot', c);
        fake.save({ providerConfigKey: 'slack', connectionId: 's1', model: 'Message' }, [{ id: 'm' }]);

        assert.equal((await getJson(fake, '/connections', '')).json.error.code, 'missing_auth_header');
        const bad = await getJson(fake, '/connections?foo=1&limit=2001');
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.json.error.code, 'invalid_query_params');
        assert.deepEqual(
            bad.json.error.errors.map((e: any) => e.code),
            ['too_big', 'unrecognized_keys'],
        );

        const all = await getJson(fake, '/connections');
        assert.equal(all.status, 200);
        assert.ok(all.headers.get('x-ratelimit-limit'), 'rate-limited like every API route');
        assert.deepEqual(Object.keys(all.json), ['connections']);
        // Newest first: created_at DESC, id DESC.
        assert.deepEqual(all.json.connections.map((c: any) => c.connection_id), ['s1', 'c3', 'c2', 'c1']);
        const first = all.json.connections[1];
        assert.deepEqual(Object.keys(first), ['id', 'connection_id', 'provider_config_key', 'provider', 'errors', 'end_user', 'tags', 'metadata', 'created']);
        assert.equal(first.provider_config_key, 'hubspot');
        assert.equal(first.provider, 'hubspot');
        assert.equal(typeof first.id, 'number');
        assert.match(first.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);

        const page1 = await getJson(fake, '/connections?limit=2&page=1');
        assert.deepEqual(page1.json.connections.map((c: any) => c.connection_id), ['c2', 'c1']);
        const filtered = await getJson(fake, `/connection?integrationId=${encodeURIComponent('slack, nope')}`);
        assert.deepEqual(filtered.json.connections.map((c: any) => c.connection_id), ['s1'], '/connection is an alias; integrationId is a trimmed comma list');

        fake.deleteConnection('hubspot', 'c2');
        assert.deepEqual((await getJson(fake, '/connections?integrationId=hubspot')).json.connections.map((c: any) => c.connection_id), ['c3', 'c1']);

        fake.legacyConnectionsQuery = true;
        const legacy = await getJson(fake, '/connections?limit=10&page=0');
        assert.equal(legacy.status, 400);
        assert.equal(legacy.json.error.errors[0].message, 'Unrecognized keys: "limit", "page"');
    });

    test('GET /scripts/config: StandardNangoConfig[] grouped by provider, [] with no sync, openai format', async (t) => {
        const fake = await startFake(t);
        assert.deepEqual((await getJson(fake, '/scripts/config')).json, []);
        fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }, { name: 'deals', models: ['Deal'] }]);
        fake.setSyncs('hubspot-eu', [{ name: 'companies', models: ['Company'] }], { provider: 'hubspot' });
        fake.setSyncs('github', [{ name: 'issues', models: ['Issue', 'Comment'], enabled: false }]);
        const res = await getJson(fake, '/scripts/config?format=nango');
        assert.equal(res.status, 200);
        // Ordered by sync name, grouped by provider: the two hubspot integrations share an entry named after the first.
        assert.deepEqual(
            res.json.map((e: any) => [e.providerConfigKey, e.provider, e.syncs.map((s: any) => s.name)]),
            [
                ['hubspot-eu', 'hubspot', ['companies', 'contacts', 'deals']],
                ['github', 'github', ['issues']],
            ],
        );
        assert.deepEqual(Object.keys(res.json[0]), ['actions', 'providerConfigKey', 'provider', 'syncs', 'on-events']);
        const sync = res.json[1].syncs[0];
        assert.deepEqual(sync.returns, ['Issue', 'Comment']);
        assert.equal(sync.type, 'sync');
        assert.equal(sync.enabled, false);
        assert.equal(sync.sync_type, 'full');
        const openai = await getJson(fake, '/scripts/config?format=openai');
        assert.deepEqual(openai.json.data.map((f: any) => f.name), ['companies', 'contacts', 'deals', 'issues']);
        assert.equal((await getJson(fake, '/scripts/config', 'not-a-key')).status, 401);
    });

    test('both draw on the records rate-limit bucket', async (t) => {
        const fake = new FakeNango({ apiKey: API_KEY, rateLimitPerMinute: 2, enforceRateLimit: true });
        await fake.start();
        t.after(() => fake.stop());
        assert.equal((await getJson(fake, '/scripts/config')).status, 200);
        assert.equal((await getJson(fake, '/connections')).status, 200);
        const limited = await getJson(fake, '/connections');
        assert.equal(limited.status, 429);
        assert.deepEqual(limited.json, { error: { code: 'too_many_request', method: 'GET', path: '/connections' } });
        assert.ok(limited.headers.get('retry-after') !== null);
    });
});

// ---- the discovery client ---------------------------------------------------------------------

describe('discovery client', () => {
    test('reads every page of GET /connections (limit/page) and stops on a short page', async (t) => {
        const fake = await startFake(t);
        for (let i = 0; i < 5; i++) fake.addConnection('hubspot', `c${i}`);
        const list = await clientFor(fake, { connectionsPageSize: 2 }).listConnections({ integrationIds: ['hubspot', 'other'] });
        assert.deepEqual(list.map((c) => c.connection_id).sort(), ['c0', 'c1', 'c2', 'c3', 'c4']);
        const reqs = fake.requests.filter((r) => r.path === '/connections');
        assert.deepEqual(reqs.map((r) => r.query), [0, 1, 2].map((page) => ({ integrationId: 'hubspot,other', limit: '2', page: String(page) })));
        fake.addConnection('hubspot', 'c5');
        const before = fake.requests.length;
        assert.equal((await clientFor(fake, { connectionsPageSize: 2 }).listConnections()).length, 6);
        assert.equal(fake.requests.length - before, 4, 'an exact multiple of the page size needs one empty page');
    });

    test('falls back to one unpaged call on a Nango that predates limit/page', async (t) => {
        const fake = await startFake(t);
        fake.legacyConnectionsQuery = true;
        for (let i = 0; i < 3; i++) fake.addConnection('hubspot', `c${i}`);
        const list = await clientFor(fake, { connectionsPageSize: 2 }).listConnections();
        assert.equal(list.length, 3);
        assert.deepEqual(fake.requests.map((r) => [r.status, r.query]), [[400, { limit: '2', page: '0' }], [200, {}]]);
    });

    test('a 429 is waited out at the gate; a 5xx is retried; scripts config keeps what discovery and the typed views need', async (t) => {
        const fake = await startFake(t);
        fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }]);
        fake.rateLimit429(1, 0, '/scripts/config');
        fake.failNext(1, { status: 503, body: 'unavailable' }, '/scripts/config');
        const gate = createRateLimitGate();
        const t0 = Date.now();
        const config = await clientFor(fake, { gate }).getScriptsConfig();
        assert.ok(Date.now() - t0 >= 1000, 'Retry-After 0 means a second');
        assert.ok(gate.closedMsTotal >= 1000);
        const [sync] = config[0]!.syncs;
        assert.deepEqual(config, [
            {
                providerConfigKey: 'hubspot',
                provider: 'hubspot',
                syncs: [
                    {
                        name: 'contacts',
                        returns: ['Contact'],
                        enabled: true,
                        id: sync!.id,
                        version: '1',
                        last_deployed: sync!.last_deployed,
                        json_schema: { definitions: { Contact: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } },
                        models: [{ name: 'Contact', fields: [{ name: 'id', type: 'string' }] }],
                    },
                ],
            },
        ]);
        assert.equal(typeof sync!.id, 'number');
        assert.match(sync!.last_deployed!, /^\d{4}-\d{2}-\d{2}T/);
        assert.deepEqual(fake.requests.map((r) => r.status), [429, 503, 200]);
    });
});

// ---- the daemon ---------------------------------------------------------------------------------

for (const engine of engines) {
    describe(`[${engine}] discovery: a fresh daemon backfills without webhooks`, () => {
        let fake: FakeNango;
        let h: Harness;
        const contactA = testKey('Contact', 'conn-a');
        const dealA = testKey('Deal', 'conn-a');
        const contactB = testKey('Contact', 'conn-b');
        const dealB = testKey('Deal', 'conn-b');
        const account = testKey('Account', 'conn-c', 'base', 'salesforce');
        const all = [contactA, dealA, contactB, dealB, account];
        const keysOf = async (hh: Harness) =>
            (await hh.reader.all<TestKey>('SELECT provider_config_key AS "providerConfigKey", connection_id AS "connectionId", model, variant FROM nango_sync_state ORDER BY 1, 2, 3, 4')).map(
                (k) => `${k.providerConfigKey}/${k.connectionId}/${k.model}/${k.variant}`,
            );
        const name = (k: TestKey) => `${k.providerConfigKey}/${k.connectionId}/${k.model}/${k.variant}`;

        before(async () => {
            fake = await startFake();
            fake.setSyncs('hubspot', [
                { name: 'contacts', models: ['Contact'] },
                { name: 'deals', models: ['Deal'] },
            ]);
            fake.setSyncs('salesforce', [{ name: 'accounts', models: ['Account'] }]);
            for (const [i, k] of all.entries()) fake.save(fakeKey(k), Array.from({ length: 3 + i }, (_, n) => ({ id: `${k.model}-${n}`, n })));
            // A variant's records: GET /connections × the scripts config cannot know variants; the
            // reconcile pass finds them in Nango's sync status.
            fake.save({ ...fakeKey(contactA), variant: 'eu' }, [{ id: 'v1' }]);
            fake.setConnectionTags(contactA.providerConfigKey, contactA.connectionId, { end_user_id: 'u1', tier: 'gold' }, { id: 'u1', organizationId: 'o1' });
            h = await startHarness({ engine, fake, config: { sync: { discover: true } } });
        });
        after(async () => {
            await h.close();
            await fake.stop();
        });

        test('every connection × sync model is mirrored, with no webhook sent', async () => {
            await waitFor(async () => (await h.stateCount()) === all.length, 10_000, 'discovery to seed the keys');
            await h.waitIdle();
            assert.deepEqual(await keysOf(h), all.map(name).sort());
            for (const k of all) await assertMirrorExact(h, k);
            const lists = h.fake.requests.filter((r) => r.path === '/connections');
            assert.deepEqual(lists.map((r) => r.query), [{ limit: '1000', page: '0' }], 'no allow-list: every integration, one short page');
            assert.equal(discoveryLines(h.logs).length, 1);
            assert.equal(discoveryLines(h.logs)[0]!['added'], all.length);
        });

        test('nango_connections: every listed connection, with its provider, tags, end user and Nango\'s creation time', async () => {
            await waitFor(async () => (await h.stateCount()) === all.length, 10_000, 'discovery to seed the keys');
            const rows = await h.reader.all<Record<string, unknown>>(
                `SELECT provider_config_key, connection_id, provider, tags, end_user_id, organization_id, created_at, first_seen_at, last_seen_at, deleted_at FROM nango_connections ORDER BY 1, 2`,
            );
            assert.deepEqual(
                rows.map((r) => [r['provider_config_key'], r['connection_id'], r['provider'], typeof r['tags'] === 'string' ? JSON.parse(r['tags']) : r['tags'], r['end_user_id'], r['organization_id'], r['deleted_at']]),
                [
                    ['hubspot', 'conn-a', 'hubspot', { end_user_id: 'u1', tier: 'gold' }, 'u1', 'o1', null],
                    ['hubspot', 'conn-b', 'hubspot', {}, null, null, null],
                    ['salesforce', 'conn-c', 'salesforce', {}, null, null, null],
                ],
            );
            for (const r of rows) for (const c of ['created_at', 'first_seen_at', 'last_seen_at']) assert.notEqual(r[c], null, c);
        });

        test('keys discovered again at the next pass are not duplicated; new connections are picked up; variants come from the sync status', async () => {
            const variant = { ...contactA, variant: 'eu' };
            await h.daemon.reconciler.runPass();
            await h.waitIdle();
            assert.equal(await h.stateCount(), all.length + 1, 'every key once, and the variant');
            await assertMirrorExact(h, variant);
            assert.equal(discoveryLines(h.logs).at(-1)!['added'], 0);
            assert.equal(discoveryLines(h.logs).at(-1)!['keys'], all.length);

            const contactD = testKey('Contact', 'conn-d');
            const dealD = testKey('Deal', 'conn-d');
            fake.save(fakeKey(contactD), [{ id: 'd1' }, { id: 'd2' }]);
            await h.daemon.reconciler.runPass();
            await h.waitIdle();
            assert.equal(await h.stateCount(), all.length + 3);
            assert.equal(discoveryLines(h.logs).at(-1)!['added'], 2);
            await assertMirrorExact(h, contactD);
            assert.equal((await h.state(dealD))!.status, 'ok', 'a model with no records yet is pulled empty');
        });

        test('a discovery failure is logged and does not stop pulls or the reconcile pass', async () => {
            const attempts = h.config.sync.retry.attempts;
            fake.failNext(attempts, { status: 500, body: { error: { code: 'server_error', message: 'boom' } } }, '/connections');
            fake.save(fakeKey(dealB), [{ id: 'lost-webhook' }]);
            const found = await h.daemon.reconciler.runPass();
            assert.equal(found, 1, 'the pass still pulled every known key');
            await assertMirrorExact(h, dealB);
            const failed = h.logs.find((l) => /^discovery failed/.test(l.msg));
            assert.ok(failed, 'the failure is logged');
            assert.equal(h.fake.requests.filter((r) => r.path === '/connections' && r.status === 500).length, attempts);

            // Webhooks go on too, and the next pass discovers again.
            fake.save(fakeKey(contactA), [{ id: 'after-failure' }]);
            await h.sendSync(contactA);
            await h.waitIdle();
            await assertMirrorExact(h, contactA);
            const lines = discoveryLines(h.logs).length;
            await h.daemon.reconciler.runPass();
            assert.equal(discoveryLines(h.logs).length, lines + 1);
        });

        test('a variant also comes from its webhook', async () => {
            const variant = { ...contactA, variant: 'apac' };
            fake.save(fakeKey(variant), [{ id: 'a1' }]);
            assert.equal(await h.state(variant), undefined);
            await h.sendSync(variant);
            await h.waitIdle();
            await assertMirrorExact(h, variant);
        });
    });

    describe(`[${engine}] discovery: allow-list, shared providers, start-up failures and 429s`, () => {
        let fake: FakeNango;
        const harnesses: Harness[] = [];
        const start = async (config: Record<string, unknown>) => {
            const h = await startHarness({ engine, fake, config: { sync: { discover: true }, ...config } });
            harnesses.push(h);
            return h;
        };

        before(async () => {
            fake = await startFake();
            fake.setSyncs('hubspot', [
                { name: 'contacts', models: ['Contact'] },
                { name: 'deals', models: ['Deal'] },
            ]);
            fake.setSyncs('salesforce', [{ name: 'accounts', models: ['Account'] }]);
            fake.save(fakeKey(testKey('Contact', 'conn-a')), [{ id: 'c1' }]);
            fake.save(fakeKey(testKey('Deal', 'conn-a')), [{ id: 'd1' }]);
            fake.save(fakeKey(testKey('Account', 'conn-s', 'base', 'salesforce')), [{ id: 'a1' }]);
        });
        after(async () => {
            for (const h of harnesses) await h.close();
            await fake.stop();
        });

        test('the allow-list is respected: only its integrations are listed, only its models seeded', async () => {
            const before = fake.requests.length;
            const h = await start({ models: [{ providerConfigKey: 'hubspot', model: 'Contact' }] });
            await waitFor(() => discoveryLines(h.logs).length === 1, 10_000, 'discovery');
            await h.waitIdle();
            const states = await h.reader.all<{ model: string; connection_id: string }>('SELECT model, connection_id FROM nango_sync_state');
            assert.deepEqual(states, [{ model: 'Contact', connection_id: 'conn-a' }]);
            await assertMirrorExact(h, testKey('Contact', 'conn-a'));
            const lists = fake.requests.slice(before).filter((r) => r.path === '/connections');
            assert.deepEqual(lists.map((r) => r.query['integrationId']), ['hubspot']);
            await h.close();
            harnesses.pop();
        });

        test('an allow-list with no deployed model never lists connections', async () => {
            const before = fake.requests.length;
            const h = await start({ models: [{ providerConfigKey: 'hubspot', model: 'Ticket' }] });
            await waitFor(() => h.logs.some((l) => /no sync model to mirror/.test(l.msg)), 10_000, 'discovery');
            assert.deepEqual(fake.requests.slice(before).map((r) => r.path), ['/scripts/config']);
            assert.equal(await h.stateCount(), 0);
            await h.close();
            harnesses.pop();
        });

        test('two integrations of one provider (one entry in Nango\'s scripts config) both get their models', async () => {
            fake.setSyncs('hubspot-eu', [{ name: 'companies', models: ['Company'] }], { provider: 'hubspot' });
            const company = testKey('Company', 'conn-eu', 'base', 'hubspot-eu');
            fake.save(fakeKey(company), [{ id: 'co1' }, { id: 'co2' }]);
            const h = await start({});
            await waitFor(() => discoveryLines(h.logs).length === 1, 10_000, 'discovery');
            await h.waitIdle();
            await assertMirrorExact(h, company);
            await assertMirrorExact(h, testKey('Contact', 'conn-a'));
            await assertMirrorExact(h, testKey('Account', 'conn-s', 'base', 'salesforce'));
            // The merged entry cannot say which integration a sync belongs to: each gets the union.
            assert.ok(await h.state(testKey('Company', 'conn-a')), 'a superset is seeded; such keys just pull empty');
            fake.setSyncs('hubspot-eu', []);
            await h.close();
            harnesses.pop();
        });

        test('a start-up discovery that fails is retried with backoff while webhooks work', async () => {
            const attempts = 3;
            fake.failNext(attempts * 2, { status: 503, body: 'upstream unavailable', headers: { 'content-type': 'text/plain' } }, '/scripts/config');
            const h = await start({ sync: { discover: true, retry: { failedPullDelayMs: 50, failedPullMaxDelayMs: 100 } } });
            const contact = testKey('Contact', 'conn-a');
            await h.sendSync(contact);
            await waitFor(async () => (await h.state(contact))?.status === 'ok', 10_000, 'the webhook pull');
            await waitFor(() => discoveryLines(h.logs).length === 1, 10_000, 'discovery to succeed after its failures');
            assert.equal(h.logs.filter((l) => /^discovery failed at start-up/.test(l.msg)).length, 2);
            await h.waitIdle();
            await assertMirrorExact(h, testKey('Deal', 'conn-a'));
            await h.close();
            harnesses.pop();
        });

        test('discovery waits when a records pull met a 429: one bucket per account', async () => {
            const h = await start({});
            await waitFor(() => discoveryLines(h.logs).length === 1, 10_000, 'start-up discovery');
            await h.waitIdle();
            const key = testKey('Contact', 'conn-a');
            fake.save(fakeKey(key), [{ id: 'c-429' }]);
            fake.rateLimit429(1, 2, '/records');
            // The page worker tells the main thread about its 429; discovery's gate listens.
            const limited = new Promise((resolve) => h.daemon.events.once('rateLimited', resolve));
            await h.sendSync(key);
            await limited;
            await h.daemon.reconciler.runPass();
            const line = discoveryLines(h.logs).at(-1)!;
            assert.ok(Number(line['durationMs']) >= 1000, `discovery took ${String(line['durationMs'])} ms; it must wait for the worker's 429`);
            await h.waitIdle();
            await assertMirrorExact(h, key);
        });

        test('record pulls wait when discovery met a 429: the other direction', async () => {
            const h = await start({});
            await waitFor(() => discoveryLines(h.logs).length === 1, 10_000, 'start-up discovery');
            await h.waitIdle();
            const key = testKey('Contact', 'conn-a');
            fake.save(fakeKey(key), [{ id: 'after-discovery-429' }]);
            fake.rateLimit429(1, 2, '/scripts/config');
            const limited = new Promise((resolve) => h.daemon.events.once('rateLimited', resolve));
            const pass = h.daemon.reconciler.runPass();
            await limited;
            const t0 = Date.now();
            await h.sendSync(key);
            await waitFor(async () => (await h.row(key, 'after-discovery-429')) !== undefined, 10_000, 'the pull');
            assert.ok(Date.now() - t0 >= 1500, `the pull went out ${Date.now() - t0} ms after discovery's 429 (Retry-After 2)`);
            await pass;
            await h.waitIdle();
        });
    });
}
