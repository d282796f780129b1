import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] failures: Nango errors, rate limits and timeouts`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { sync: { pageSize: 100, requestTimeoutSeconds: 0.5 } } });
        });
        after(() => h.close());

        const seed = (model: string, conn: string, n: number) => {
            const key = testKey(model, conn);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), n, (i) => ({ id: `${conn}-${i}`, i }));
            return key;
        };

        test('429 with Retry-After: 0 waits at least a second and retries the same page', async () => {
            const key = seed('Contact', 'conn-429', 250);
            const start = h.fake.requests.length;
            h.fake.inject((req) => (req.n === start + 2 ? { status: 429, headers: { 'retry-after': '0' }, body: { error: { code: 'too_many_request', method: 'GET', path: '/records' } } } : undefined));
            const t0 = Date.now();
            await h.sendSync(key);
            await h.waitIdle();
            h.fake.inject(undefined);
            const elapsed = Date.now() - t0;
            assert.ok(elapsed >= 1000, `waited ${elapsed} ms; Retry-After 0 means wait max(1, 0) s`);
            const reqs = h.fake.requests.slice(start);
            assert.equal(reqs[1]!.status, 429);
            assert.equal(reqs[2]!.query['cursor'], reqs[1]!.query['cursor'], 'the same page is asked again');
            await assertMirrorExact(h, key);
            assert.equal((await h.state(key))!.consecutive_failures, 0, 'a 429 is not a failure');
            assert.ok(h.logs.some((l) => /rate limit/.test(l.msg)));
        });

        test('5xx, an HTML 502, a reset socket and a timeout are retried with backoff', async () => {
            const key = seed('Company', 'conn-5xx', 300);
            h.fake.failNext(1, { status: 503, body: { error: { code: 'server_error' } } });
            await h.sendSync(key);
            await h.waitIdle();
            await assertMirrorExact(h, key);
            for (const fault of [{ status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }, { destroy: true }, { delayMs: 1500 }]) {
                h.fake.save(fakeKey(key), [{ id: `extra-${JSON.stringify(fault).length}` }]);
                h.fake.failNext(1, fault);
                await h.sendSync(key);
                await h.waitIdle();
                await assertMirrorExact(h, key);
                assert.equal((await h.state(key))!.status, 'ok', JSON.stringify(fault));
            }
        });

        test('a pull that keeps failing is recorded and backs off; other keys are unaffected', async () => {
            const broken = seed('Deal', 'conn-broken', 10);
            const healthy = seed('Deal', 'conn-healthy', 10);
            h.fake.inject((req) => (req.headers['connection-id'] === 'conn-broken' ? { status: 500, body: { error: { code: 'server_error', message: 'Failed to fetch records' } } } : undefined));
            await h.sendSync(broken);
            await h.sendSync(healthy);
            await waitFor(async () => (await h.state(broken))?.status === 'failed', 5000, 'the broken key to fail');
            await h.waitIdle();
            h.fake.inject(undefined);
            const state = (await h.state(broken))!;
            assert.equal(state.consecutive_failures, 1);
            assert.equal(state.last_error_code, 'server_error');
            assert.match(state.last_error!, /500/);
            assert.ok(state.next_attempt_at! > new Date().toISOString(), 'retried later, with backoff');
            assert.ok(state.request_seq > state.done_seq, 'the request stays pending');
            await assertMirrorExact(h, healthy);
            assert.equal((await h.rows(broken)).length, 0);
            // A new webhook makes the key due again at once, and it recovers.
            await h.sendSync(broken);
            await waitFor(async () => (await h.state(broken))?.status === 'ok', 5000, 'the broken key to recover');
            assert.equal((await h.state(broken))!.consecutive_failures, 0);
            await assertMirrorExact(h, broken);
        });

        test('a 500 that repeats at one stored cursor is reported as a rejected cursor', async () => {
            const key = seed('Ticket', 'conn-cursor', 5);
            await h.sendSync(key);
            await h.waitIdle();
            await h.reader.exec(`UPDATE nango_sync_state SET cursor = '${Buffer.from('not||a-cursor').toString('base64')}' WHERE connection_id = 'conn-cursor'`);
            await h.sendSync(key);
            await waitFor(async () => (await h.state(key))?.status === 'failed', 5000, 'the pull to fail');
            const state = (await h.state(key))!;
            assert.equal(state.last_error_code, 'cursor_rejected');
            assert.match(state.last_error!, /malformed cursor/);
        });

        test('400 unknown_connection marks the key gone; reconcile leaves it alone until a webhook names it', async () => {
            const key = seed('Contact', 'conn-gone', 3);
            h.fake.deleteConnection(key.providerConfigKey, key.connectionId);
            await h.sendSync(key);
            await waitFor(async () => (await h.state(key))?.status === 'gone', 5000, 'the key to be gone');
            const before = h.fake.requests.length;
            await h.daemon.reconciler.runPass();
            assert.equal(h.fake.requests.filter((r, i) => i >= before && r.headers['connection-id'] === 'conn-gone').length, 0);
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'back' }]);
            await h.sendSync(key);
            await h.waitIdle();
            assert.equal((await h.state(key))!.status, 'ok');
            await assertMirrorExact(h, key);
        });
    });

    describe(`[${engine}] failures: a wrong API key`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { nango: { apiKey: '11111111-1111-4111-8111-111111111111' } } });
        });
        after(() => h.close());

        test('one loud log line names the apiKey, /readyz fails, and no secret is logged', async () => {
            const key = testKey('Contact', 'conn-auth');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            assert.equal((await fetch(`${h.daemon.url}/readyz`)).status, 200);
            await h.sendSync(key);
            await h.sendSync(testKey('Company', 'conn-auth'));
            await waitFor(async () => (await h.state(key))?.status === 'failed', 5000, 'the pull to fail');
            await h.waitIdle();
            const loud = h.logs.filter((l) => l.level >= 50 && /nango\.apiKey/.test(l.msg));
            assert.equal(loud.length, 1, 'exactly one loud line');
            const ready = await fetch(`${h.daemon.url}/readyz`);
            assert.equal(ready.status, 503);
            assert.match(((await ready.json()) as any).error.message, /apiKey/);
            assert.equal((await h.state(key))!.last_error_code, 'nango_auth');
            const all = JSON.stringify(h.logs);
            assert.ok(!all.includes('11111111-1111-4111-8111-111111111111'), 'the API key never reaches a log');
            assert.ok(!all.includes(h.config.nango.webhookSigningKey as string), 'nor the signing key');
        });
    });
}
