import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] reconcile: lost webhooks are found on a timer`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine });
        });
        after(() => h.close());

        test('a pass pulls every known key and logs how many records no webhook announced', async () => {
            const a = testKey('Contact', 'conn-rec-a');
            const b = testKey('Contact', 'conn-rec-b');
            for (const k of [a, b]) {
                h.fake.addConnection(k.providerConfigKey, k.connectionId);
                h.fake.save(fakeKey(k), [{ id: 'first' }]);
                await h.sendSync(k);
            }
            await h.waitIdle();
            // Changes whose webhooks were lost: 3 on a, 2 on b.
            h.fake.save(fakeKey(a), [{ id: 'x1' }, { id: 'x2' }, { id: 'x3' }]);
            h.fake.save(fakeKey(b), [{ id: 'y1' }, { id: 'y2' }]);
            const found = await h.daemon.reconciler.runPass();
            assert.equal(found, 5);
            await assertMirrorExact(h, a);
            await assertMirrorExact(h, b);
            const line = h.logs.find((l) => /^reconcile pass found/.test(l.msg));
            assert.ok(line);
            assert.equal(line['found'], 5);
            assert.equal(line['keys'], 2);
        });

        test('a webhook for a key the pass has queued runs next, and what it finds is not counted as missed', async () => {
            await h.restart({ sync: { concurrency: 1 } });
            const keys = Array.from({ length: 12 }, (_, i) => testKey('Contact', `conn-prio-${i}`));
            for (const k of keys) {
                h.fake.addConnection(k.providerConfigKey, k.connectionId);
                h.fake.save(fakeKey(k), [{ id: 'first' }]);
                await h.sendSync(k);
            }
            await h.waitIdle();
            // A change on every key, its webhook lost.
            for (const k of keys) h.fake.save(fakeKey(k), [{ id: 'lost' }]);
            // The pass's first pull waits at the fake until the test lets it go: every other key is queued behind it.
            let release!: () => void;
            const gate = new Promise<void>((r) => (release = r));
            let held: string | undefined;
            h.fake.inject(({ headers }) => {
                held ??= String(headers['connection-id']);
                return held === headers['connection-id'] ? { until: gate } : undefined;
            });
            const finished: string[] = [];
            h.daemon.events.on('pullFinished', ({ key }) => finished.push(key.connectionId));
            const pass = h.daemon.reconciler.runPass();
            await waitFor(() => held !== undefined, 5000, 'the pass to start its first pull');
            // The last key a FIFO pass would reach, announced now by a webhook.
            const announced = [...keys].reverse().find((k) => k.connectionId !== held)!;
            h.fake.save(fakeKey(announced), [{ id: 'announced' }]);
            assert.equal((await h.sendSync(announced)).status, 200);
            release();
            h.fake.inject(undefined);
            const found = await pass;
            assert.deepEqual(finished.slice(0, 2), [held, announced.connectionId], 'the announced key is pulled right after the pull that was running');
            assert.equal(found, keys.length - 1, 'the announced key\'s records are not counted as missed');
            for (const k of keys) await assertMirrorExact(h, k);
        });

        test('the interval timer runs passes by itself', async () => {
            await h.restart({ sync: { reconcileIntervalSeconds: 1 } });
            const k = testKey('Contact', 'conn-rec-a');
            h.fake.save(fakeKey(k), [{ id: 'timer' }]);
            await waitFor(async () => (await h.row(k, 'timer')) !== undefined, 5000, 'a timed reconcile pass to find the record');
            await assertMirrorExact(h, k);
        });
    });
}

for (const engine of engines) {
    describe(`[${engine}] reconcile by Nango's sync status`, () => {
        let h: Harness;
        before(async () => {
            // No clock slack: the fake and the daemon share this machine's clock.
            h = await startHarness({ engine, daemon: { finishedAtSlackMs: 0 } });
            h.fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }]);
        });
        after(() => h.close());

        const requestsDuring = async <T>(work: () => Promise<T>): Promise<{ result: T; records: number; status: number }> => {
            const from = h.fake.requestCount;
            const result = await work();
            const during = h.fake.requests.filter((r) => r.n > from);
            return { result, records: during.filter((r) => r.path === '/records').length, status: during.filter((r) => r.path === '/sync/status').length };
        };

        test('a pass asks for the status once per integration and pulls only the key whose sync ran since its last pull', async () => {
            const keys = Array.from({ length: 5 }, (_, i) => testKey('Contact', `conn-status-${i}`));
            for (const k of keys) {
                h.fake.save(fakeKey(k), [{ id: 'first' }]);
                await h.sendSync(k);
            }
            await h.waitIdle();
            // A change whose webhook was lost, on one key.
            h.fake.save(fakeKey(keys[3]!), [{ id: 'lost' }]);
            const pass = await requestsDuring(() => h.daemon.reconciler.runPass());
            assert.deepEqual([pass.result, pass.status, pass.records], [1, 1, 1], 'found 1 record, with 1 status request and 1 records request');
            for (const k of keys) await assertMirrorExact(h, k);
            // Nango's view is kept beside the mirror's.
            const nango = await h.daemon.store.keys.getKeyStatus(keys[3]!, { counts: false });
            assert.deepEqual([nango?.nangoSyncStatus, nango?.nangoRecordCount, nango?.nangoFinishedAt === null], ['SUCCESS', 2, false]);
            // Nothing changed since: a pass costs the status request alone.
            const quiet = await requestsDuring(() => h.daemon.reconciler.runPass());
            assert.deepEqual([quiet.result, quiet.status, quiet.records], [0, 1, 0]);
        });

        test("a variant Nango's status lists is discovered and pulled without a webhook", async () => {
            const variant = testKey('Contact', 'conn-status-1', 'emea');
            h.fake.save(fakeKey(variant), [{ id: 'v1' }, { id: 'v2' }]);
            assert.equal(await h.state(variant), undefined);
            const found = await h.daemon.reconciler.runPass();
            assert.equal(found, 2);
            await assertMirrorExact(h, variant);
            assert.ok(h.logs.some((l) => /sync status lists that the mirror did not know/.test(l.msg)));
        });

        test('when the status is refused (403), the pass pulls every key of the integration, and says so once', async () => {
            h.fake.failNext(2, { status: 403, body: { error: { code: 'forbidden', message: 'Required: environment:syncs:read' } } }, '/sync/status');
            const keys = await h.stateCount();
            const first = await requestsDuring(() => h.daemon.reconciler.runPass());
            assert.equal(first.records, keys, 'a records request per key, as before the status existed');
            await requestsDuring(() => h.daemon.reconciler.runPass());
            assert.equal(h.logs.filter((l) => /could not read Nango's sync status/.test(l.msg)).length, 1, 'warned once');
            const metrics = await (await fetch(`${h.adminUrl}/metrics`)).text();
            assert.match(metrics, /^nango_mirror_sync_status_unavailable_total 2$/m);
        });
    });
}
