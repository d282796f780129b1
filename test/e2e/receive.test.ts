import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, SIGNING_KEY, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';
import { asyncActionBody, hmacSignature, authBody, forwardBody, postWebhook, signWebhook, syncErrorBody, syncSuccessBody } from '../fakes/webhooks.js';

const NOT_UTF8 = Buffer.from('{"from":"nango","type":"sync","x":"\xff\xfe"}', 'latin1');

async function rawPost(url: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
    const res = await fetch(url, { method: 'POST', body, headers });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] receive: the webhook endpoint`, () => {
        let h: Harness;
        const key = testKey('Contact', 'conn-recv');

        before(async () => {
            h = await startHarness({ engine, config: { server: { maxBodyBytes: 4096 } } });
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
        });
        after(() => h.close());

        test('every rejection is a JSON 4xx with a stable code, and writes nothing', async () => {
            const signed = signWebhook(syncSuccessBody(key), SIGNING_KEY);
            const cases: Array<[string, Promise<{ status: number; json: any }>, number, string]> = [
                ['no signature', rawPost(h.webhookUrl, signed.body, { 'content-type': 'application/json' }), 401, 'missing_signature'],
                ['signed with another key', rawPost(h.webhookUrl, signed.body, { ...signWebhook(syncSuccessBody(key), 'wrong-key').headers }), 401, 'invalid_signature'],
                ['body altered after signing', rawPost(h.webhookUrl, signed.body.replace('conn-recv', 'conn-evil'), signed.headers), 401, 'invalid_signature'],
                ['re-serialized with spaces', rawPost(h.webhookUrl, JSON.stringify(JSON.parse(signed.body), null, 1), signed.headers), 401, 'invalid_signature'],
                ['legacy signature without acceptLegacySignature', rawPost(h.webhookUrl, signed.body, { 'content-type': 'application/json', 'x-nango-signature': signed.headers['x-nango-signature']! }), 401, 'missing_signature'],
                ['text/plain', rawPost(h.webhookUrl, signed.body, { ...signed.headers, 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
                ['too large', rawPost(h.webhookUrl, JSON.stringify({ pad: 'x'.repeat(5000) }), { 'content-type': 'application/json' }), 413, 'payload_too_large'],
                ['signed but not JSON', rawPost(h.webhookUrl, 'not json{', signWebhook('not json{', SIGNING_KEY).headers), 400, 'invalid_json'],
                ['signed but not UTF-8', rawPost(h.webhookUrl, NOT_UTF8, { 'content-type': 'application/json', 'x-nango-hmac-sha256': hmacSignature(NOT_UTF8, SIGNING_KEY) }), 400, 'invalid_json'],
                ['a Nango sync webhook without connectionId', postWebhook(h.webhookUrl, { ...syncSuccessBody(key), connectionId: undefined }, SIGNING_KEY), 400, 'invalid_webhook'],
            ];
            for (const [name, pending, status, code] of cases) {
                const res = await pending;
                assert.equal(res.status, status, name);
                assert.equal(res.json?.error?.code, code, name);
                assert.equal(typeof res.json?.error?.message, 'string', name);
            }
            assert.equal((await h.stateCount()), 0, 'a rejected request wrote nothing');
            assert.equal(h.fake.requests.length, 0, 'and pulled nothing');
        });

        test('non-POST methods and unknown paths answer JSON too', async () => {
            const get = await fetch(h.webhookUrl);
            assert.equal(get.status, 405);
            assert.equal(get.headers.get('allow'), 'POST');
            assert.equal(((await get.json()) as any).error.code, 'method_not_allowed');
            const missing = await fetch(`${h.daemon.url}/nope`);
            assert.equal(missing.status, 404);
            assert.equal(((await missing.json()) as any).error.code, 'not_found');
        });

        test('a valid sync webhook is stored before the 2xx and pulled', async () => {
            h.fake.save({ ...key }, [{ id: 'r1' }]);
            const res = await h.sendSync(key);
            assert.deepEqual(res, { status: 200, json: { status: 'accepted', pulls: 1 } });
            // Stored before the answer: the request is visible the moment the 2xx arrives.
            const state = (await h.state(key))!;
            assert.ok(state.request_seq >= 1);
            assert.notEqual(state.pull_requested_at, null);
            await h.waitIdle();
            assert.equal((await h.rows(key)).length, 1);
        });

        test('forward, async_action, unwrapped provider payloads and unknown types get 2xx and are ignored', async () => {
            const before = (await h.stateCount());
            const fakeRequests = h.fake.requests.length;
            const bodies = [
                forwardBody({ providerConfigKey: 'hubspot', connectionId: 'conn-recv', provider: 'hubspot', payload: { any: 'thing' } }),
                asyncActionBody({ providerConfigKey: 'hubspot', connectionId: 'conn-recv', id: 'act-1' }),
                { type: 'sync', object: 'event', data: { id: 'evt_1' } }, // an unwrapped Stripe-like payload
                { from: 'nango', type: 'something_new', connectionId: 'c' },
                [1, 2, 3],
            ];
            for (const body of bodies) {
                const res = await postWebhook(h.webhookUrl, body, SIGNING_KEY);
                assert.equal(res.status, 200, JSON.stringify(body));
                assert.deepEqual(res.json, { status: 'ignored' });
            }
            assert.equal((await h.stateCount()), before);
            assert.equal(h.fake.requests.length, fakeRequests);
        });

        test('a failed-sync webhook is recorded on each of its models and pulls nothing', async () => {
            const fakeRequests = h.fake.requests.length;
            const res = await postWebhook(h.webhookUrl, syncErrorBody({ providerConfigKey: 'hubspot', connectionId: 'conn-fail', model: 'Contact,Company', description: 'token expired' }), SIGNING_KEY);
            assert.equal(res.status, 200);
            for (const model of ['Contact', 'Company']) {
                const state = (await h.state(testKey(model, 'conn-fail')))!;
                assert.match(state.nango_sync_error!, /token expired/);
                assert.equal(state.request_seq, 0);
            }
            await new Promise((r) => setTimeout(r, 50));
            assert.equal(h.fake.requests.length, fakeRequests);
        });

        test('auth deletion marks the connection gone and keeps its rows; a later sync webhook revives it', async () => {
            const res = await postWebhook(h.webhookUrl, authBody({ providerConfigKey: 'hubspot', connectionId: 'conn-recv', operation: 'deletion' }), SIGNING_KEY);
            assert.equal(res.status, 200);
            assert.equal((await h.state(key))!.status, 'gone');
            assert.equal((await h.rows(key)).length, 1, 'rows kept');
            const connection = async (connectionId: string) => {
                const rows = await h.reader.all<Record<string, unknown>>('SELECT * FROM nango_connections WHERE provider_config_key = ? AND connection_id = ?', 'hubspot', connectionId);
                return rows.map((r) => ({ ...r, tags: typeof r['tags'] === 'string' ? JSON.parse(r['tags']) : r['tags'], deleted: r['deleted_at'] !== null }))[0];
            };
            assert.equal((await connection('conn-recv'))?.deleted, true, 'nango_connections: deleted_at set by the deletion webhook');
            const endUser = { endUserId: 'u7', organizationId: 'o7' };
            const created = await postWebhook(h.webhookUrl, authBody({ providerConfigKey: 'hubspot', connectionId: 'conn-recv', operation: 'creation', tags: { end_user_id: 'u7' }, endUser }), SIGNING_KEY);
            assert.equal(created.status, 200);
            assert.deepEqual(
                { ...(await connection('conn-recv')), first_seen_at: undefined, last_seen_at: undefined, deleted_at: undefined },
                { provider_config_key: 'hubspot', connection_id: 'conn-recv', provider: 'hubspot', tags: { end_user_id: 'u7' }, end_user_id: 'u7', organization_id: 'o7', created_at: null, first_seen_at: undefined, last_seen_at: undefined, deleted_at: undefined, deleted: false },
                'a creation webhook revives the connection, with its tags and end user',
            );
            // A creation webhook for a connection the mirror never saw inserts it; a failed one does not.
            await postWebhook(h.webhookUrl, authBody({ providerConfigKey: 'hubspot', connectionId: 'conn-new', operation: 'creation' }), SIGNING_KEY);
            await postWebhook(h.webhookUrl, authBody({ providerConfigKey: 'hubspot', connectionId: 'conn-failed', operation: 'creation', success: false, error: { type: 'x', description: 'y' } }), SIGNING_KEY);
            assert.equal((await connection('conn-new'))?.deleted, false);
            assert.equal(await connection('conn-failed'), undefined);
            assert.ok(h.logs.some((l) => l.msg === 'auth webhook' && l['operation'] === 'creation'));
            await h.sendSync(key);
            await h.waitIdle();
            assert.equal((await h.state(key))!.status, 'ok');
        });

        test('when the pull request cannot be stored the answer is 503, never a 4xx', async () => {
            await h.reader.exec('ALTER TABLE nango_sync_state RENAME TO nango_sync_state_away');
            try {
                const res = await h.sendSync(testKey('Contact', 'conn-503'));
                assert.equal(res.status, 503);
                assert.equal((res.json as any).error.code, 'storage_unavailable');
                const ready = await fetch(`${h.daemon.url}/readyz`);
                assert.equal(ready.status, 503);
            } finally {
                await h.reader.exec('ALTER TABLE nango_sync_state_away RENAME TO nango_sync_state');
            }
            assert.equal((await fetch(`${h.daemon.url}/readyz`)).status, 200);
            assert.equal((await fetch(`${h.daemon.url}/healthz`)).status, 200);
        });

        test('a slow sender that aborts mid-body gets nothing stored', async () => {
            const before = (await h.stateCount());
            const url = new URL(h.webhookUrl);
            await new Promise<void>((resolve) => {
                const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '500' } });
                req.on('error', () => resolve());
                req.write('{"from":"nango"');
                setTimeout(() => {
                    req.destroy();
                    resolve();
                }, 50);
            });
            await waitFor(() => true);
            assert.equal((await h.stateCount()), before);
        });
    });

    describe(`[${engine}] receive: key rotation and the legacy signature`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { nango: { webhookSigningKey: ['old-key', 'new-key'], acceptLegacySignature: true } } });
        });
        after(() => h.close());

        test('both keys of a rotation window are accepted; a third is not', async () => {
            const key = testKey('Contact', 'conn-rot');
            assert.equal((await h.sendSync(key, 'old-key')).status, 200);
            assert.equal((await h.sendSync(key, 'new-key')).status, 200);
            assert.equal((await h.sendSync(key, SIGNING_KEY)).status, 401);
        });

        test('with acceptLegacySignature, X-Nango-Signature alone is enough', async () => {
            const signed = signWebhook(syncSuccessBody(testKey('Contact', 'conn-legacy')), 'new-key');
            const res = await rawPost(h.webhookUrl, signed.body, { 'content-type': 'application/json', 'x-nango-signature': signed.headers['x-nango-signature']! });
            assert.equal(res.status, 200);
            const bad = await rawPost(h.webhookUrl, signed.body, { 'content-type': 'application/json', 'x-nango-signature': '0'.repeat(64) });
            assert.equal(bad.status, 401);
        });
    });
}

for (const engine of engines) {
    describe(`[${engine}] receive: sync.purgeDeletedConnectionsAfterHours`, () => {
        let h: Harness;
        const key = testKey('Contact', 'conn-purge');
        const kept = testKey('Contact', 'conn-kept');

        before(async () => {
            // 0.0005 h = 1.8 s: long enough for the first pass to come before it, even on a slow machine.
            h = await startHarness({ engine, config: { sync: { purgeDeletedConnectionsAfterHours: 0.0005 } } });
        });
        after(() => h.close());

        test("past the configured time, a reconcile pass hard-deletes a deleted connection's rows and keys", async () => {
            for (const k of [key, kept]) {
                h.fake.save({ ...k }, [{ id: 'r1' }, { id: 'r2' }]);
                await h.sendSync(k);
            }
            await h.waitIdle();
            assert.equal((await h.rows(key)).length, 2);
            const res = await postWebhook(h.webhookUrl, authBody({ providerConfigKey: key.providerConfigKey, connectionId: key.connectionId, operation: 'deletion' }), SIGNING_KEY);
            assert.equal(res.status, 200);
            await h.daemon.reconciler.runPass();
            await h.waitIdle();
            assert.equal((await h.rows(key)).length, 2, 'not yet: deleted less than the configured time ago');
            await new Promise((r) => setTimeout(r, 2000));
            await h.daemon.reconciler.runPass();
            await h.waitIdle();
            assert.deepEqual(await h.rows(key), []);
            assert.equal(await h.state(key), undefined, 'its keys go too');
            assert.equal((await h.rows(kept)).length, 2, 'other connections keep theirs');
            assert.ok(h.logs.some((l) => /^purged the rows and keys/.test(l.msg)));
            const conn = await h.reader.all<{ deleted_at: unknown }>('SELECT deleted_at FROM nango_connections WHERE connection_id = ?', key.connectionId);
            assert.notEqual(conn[0]?.deleted_at ?? null, null, 'the nango_connections row stays, deleted');
        });
    });
}

for (const engine of engines) {
    describe(`[${engine}] receive: the webhook hands its key to the scheduler`, () => {
        let h: Harness;
        // The look at stored requests runs every 10 minutes here: only the route's own hand-over
        // (once the request is committed) can start the pull within the test's time.
        before(async () => {
            h = await startHarness({ engine, daemon: { duePollMs: 600_000 } });
        });
        after(() => h.close());

        test('an announced key is pulled without waiting for a look at the stored requests', async () => {
            const key = testKey('Contact', 'conn-handover');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), 3, (i) => ({ id: `h-${i}`, name: `Handed over ${i}` }));
            const res = await h.sendSync(key);
            assert.equal(res.status, 200);
            await waitFor(async () => (await h.rows(key)).length === 3, 10_000, 'the announced key to be pulled');
            await waitFor(async () => (await h.state(key))?.status === 'ok', 10_000, 'the pull to finish');
            assert.equal((await h.state(key))?.done_seq, (await h.state(key))?.request_seq, 'the pull covers the request');
        });
    });
}
