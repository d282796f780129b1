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

        test('the interval timer runs passes by itself', async () => {
            await h.restart({ sync: { reconcileIntervalSeconds: 1 } });
            const k = testKey('Contact', 'conn-rec-a');
            h.fake.save(fakeKey(k), [{ id: 'timer' }]);
            await waitFor(async () => (await h.row(k, 'timer')) !== undefined, 5000, 'a timed reconcile pass to find the record');
            await assertMirrorExact(h, k);
        });
    });
}
