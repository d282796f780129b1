import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness, type HarnessOptions } from '../helpers/harness.js';

const engines = await testEngines();

/** Pages of 10 with 40 ms each at the fake: `big`'s 200 records take 20 pages and most of a second. */
const SLOW_PAGES: Record<string, unknown> = { sync: { concurrency: 1, pageSize: 10 } };

for (const engine of engines) {
    describe(`[${engine}] long pulls give their slot back`, () => {
        const harnesses: Harness[] = [];
        after(async () => {
            for (const h of harnesses) await h.close();
        });

        /** One slot; `big` and `small` known and in sync; then 200 records on `big` whose webhook was lost. */
        async function setUp(options: HarnessOptions) {
            const h = await startHarness({ engine, config: SLOW_PAGES, ...options, daemon: { finishedAtSlackMs: 0, ...options.daemon } });
            harnesses.push(h);
            h.fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }]);
            const big = testKey('Contact', 'conn-long-big');
            const small = testKey('Contact', 'conn-long-small');
            for (const k of [big, small]) {
                h.fake.addConnection(k.providerConfigKey, k.connectionId);
                h.fake.save(fakeKey(k), [{ id: 'first' }]);
                await h.sendSync(k);
            }
            await h.waitIdle();
            h.fake.save(fakeKey(big), Array.from({ length: 200 }, (_, i) => ({ id: `big-${i}` })));
            h.fake.inject(({ headers }) => (headers['connection-id'] === big.connectionId ? { delayMs: 40 } : undefined));
            const events: string[] = [];
            let bigPages = 0;
            h.daemon.events.on('pageCommitted', ({ key }) => {
                if (key.connectionId === big.connectionId) bigPages++;
            });
            h.daemon.events.on('pullFinished', ({ key, outcome }) => events.push(`${key.connectionId === big.connectionId ? 'big' : 'small'}:${outcome}`));
            return { h, big, small, events, pages: () => bigPages };
        }

        test('a reconcile pull gives its slot to an announced change after the page it is on', async () => {
            const { h, big, small, events, pages } = await setUp({});
            const pass = h.daemon.reconciler.runPass();
            await waitFor(() => pages() >= 2, 10_000, "the pass's pull of big to commit two pages");
            h.fake.save(fakeKey(small), [{ id: 'announced' }]);
            assert.equal((await h.sendSync(small)).status, 200);
            const atWebhook = pages();
            await waitFor(() => events.includes('small:ok'), 5000, "the webhook's pull");
            assert.ok(pages() - atWebhook <= 2, `big committed ${pages() - atWebhook} pages while the announced change waited`);
            assert.ok(pages() < 20, 'big was not finished first');
            assert.deepEqual(events.slice(0, 2), ['big:yielded', 'small:ok']);
            assert.equal(await pass, 200, "the pass still finds big's 200 records, resumed from its cursor");
            assert.equal(events.at(-1), 'big:ok');
            await assertMirrorExact(h, big);
            await assertMirrorExact(h, small);
        });

        test('a background pull waiting for a page (or at the 429 gate) gives its slot to an announced change at once', async () => {
            const { h, big, small, events } = await setUp({});
            // big's first page does not come until the test says so: its pull holds the only slot.
            let release!: () => void;
            const held = new Promise<void>((r) => (release = r));
            let asked = 0;
            h.fake.inject(({ headers }) => (headers['connection-id'] === big.connectionId && ++asked === 1 ? { until: held } : undefined));
            const pass = h.daemon.reconciler.runPass();
            await waitFor(() => asked === 1, 10_000, "the pass's pull of big to ask for its first page");
            h.fake.save(fakeKey(small), [{ id: 'announced-now' }]);
            assert.equal((await h.sendSync(small)).status, 200);
            await waitFor(() => events.includes('small:ok'), 5000, "the webhook's pull, while big's page is still held");
            assert.deepEqual(events, ['big:yielded', 'small:ok']);
            release();
            assert.equal(await pass, 200, "big's pull resumed and read everything");
            await assertMirrorExact(h, big);
            await assertMirrorExact(h, small);
        });

        test('an announced long pull gives its slot back after its turn while another key waits, and resumes from its cursor', async () => {
            const { h, big, small, events, pages } = await setUp({ daemon: { pullTurnMs: 200 } });
            const bigWebhook = h.sendSync(big);
            await waitFor(() => pages() >= 1, 10_000, 'the pull of big to commit a page');
            h.fake.save(fakeKey(small), [{ id: 'also-announced' }]);
            assert.equal((await h.sendSync(small)).status, 200);
            assert.equal((await bigWebhook).status, 200);
            await waitFor(() => events.includes('small:ok'), 5000, "small's pull");
            assert.ok(pages() < 20, 'small did not wait for all of big');
            await h.waitIdle();
            assert.ok(events.includes('big:yielded'));
            assert.equal(events.filter((e) => e === 'big:ok').length, 1);
            const state = await h.state(big);
            assert.equal(Number(state?.done_seq), Number(state?.request_seq), 'big is no longer pending');
            await assertMirrorExact(h, big);
            await assertMirrorExact(h, small);
        });
    });
}
