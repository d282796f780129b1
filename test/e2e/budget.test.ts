import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { FakeNango, type LoggedRequest } from '../fakes/fakeNango.js';
import { testEngines } from '../helpers/engines.js';
import { API_KEY, assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

// The account's bucket as the fake enforces it: 20 points a window, a quarter kept back.
const LIMIT = 20;
const RESERVE = 0.25;
const RESERVED = LIMIT * RESERVE;
const WINDOW_MS = 4000;

/** The mirror's background requests: the status and the pass's pulls (the app's requests say who they are). */
const background = (r: LoggedRequest) =>
    r.headers['user-agent'] !== 'the-app' && (r.path === '/sync/status' || String(r.headers['connection-id'] ?? '').startsWith('conn-bg-'));

for (const engine of engines) {
    describe(`[${engine}] API budget: background pulls leave the reserve to the app and to announced changes`, () => {
        let fake: FakeNango;
        let h: Harness;
        before(async () => {
            fake = new FakeNango({ apiKey: API_KEY, rateLimitPerMinute: LIMIT, enforceRateLimit: true, rateLimitWindowMs: WINDOW_MS });
            await fake.start();
            h = await startHarness({ engine, fake, config: { sync: { rateLimitReserve: RESERVE, concurrency: 4 }, models: [{ providerConfigKey: 'hubspot', model: 'Contact' }] }, daemon: { finishedAtSlackMs: 0 } });
        });
        after(async () => {
            await h.close();
            await fake.stop();
        });

        test("a pass stops at the reserve; a webhook's pull and the app's requests still get through; the rest resumes in the next window", async () => {
            // 20 keys Nango's status lists and the mirror does not know: the pass pulls every one.
            fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }]);
            const keys = Array.from({ length: 20 }, (_, i) => testKey('Contact', `conn-bg-${i}`));
            for (const k of keys) {
                fake.addConnection(k.providerConfigKey, k.connectionId);
                fake.save(fakeKey(k), [{ id: `r-${k.connectionId}` }]);
            }
            const pass = h.daemon.reconciler.runPass();

            // The first window: the status request and 14 pulls, then nothing more of the pass.
            await waitFor(() => fake.requests.filter(background).length >= LIMIT - RESERVED, 10_000, 'the pass to spend the unreserved points');
            const window = fake.requests.filter(background)[0]!.rateWindow!;
            await sleep(500);
            const spent = fake.requests.filter((r) => background(r) && r.rateWindow === window);
            assert.equal(spent.length, LIMIT - RESERVED, 'background requests stop where the reserve starts');
            assert.equal(Math.min(...spent.map((r) => r.rateRemaining!)), RESERVED);
            const pulledBefore = (await Promise.all(keys.map((k) => h.rows(k)))).filter((rows) => rows.length > 0).length;
            assert.equal(pulledBefore, LIMIT - RESERVED - 1);

            // An announced change in the same window: its pull spends the reserve at once.
            const announced = testKey('Contact', 'conn-announced');
            fake.addConnection(announced.providerConfigKey, announced.connectionId);
            fake.save(fakeKey(announced), [{ id: 'announced' }]);
            assert.equal((await h.sendSync(announced)).status, 200);
            await waitFor(async () => (await h.row(announced, 'announced')) !== undefined, 3000, "the webhook's pull");
            const announcedPull = fake.requests.find((r) => r.headers['connection-id'] === announced.connectionId)!;
            assert.equal(announcedPull.rateWindow, window, 'the announced pull did not wait for the window to end');

            // The app's own requests: the 4 points left, none refused.
            for (let i = 0; i < RESERVED - 1; i++) {
                const res = await fetch(`${fake.baseUrl}/records?model=Contact`, {
                    headers: { authorization: `Bearer ${API_KEY}`, 'connection-id': keys[0]!.connectionId, 'provider-config-key': 'hubspot', 'user-agent': 'the-app' },
                });
                await res.arrayBuffer();
                assert.equal(res.status, 200, "the app's request got through");
            }

            // The pass ends in the next window, all of it exact, and nobody met a 429.
            await pass;
            for (const k of keys) await assertMirrorExact(h, k);
            assert.deepEqual(fake.requests.filter((r) => r.status === 429), []);
            const perWindow = new Map<number, number>();
            for (const r of fake.requests.filter(background)) perWindow.set(r.rateWindow!, (perWindow.get(r.rateWindow!) ?? 0) + 1);
            assert.ok(perWindow.size >= 2, 'the pass went on in a later window');
            for (const [w, n] of perWindow) assert.ok(n <= LIMIT - RESERVED, `window ${w}: ${n} background requests`);

            // What /metrics says of it.
            const metrics = await (await fetch(`${h.adminUrl}/metrics`)).text();
            assert.match(metrics, /^nango_mirror_nango_rate_limit_limit 20$/m);
            assert.match(metrics, /^nango_mirror_nango_rate_limit_reserve 5$/m);
            assert.match(metrics, /^nango_mirror_nango_rate_limit_remaining \d+$/m);
            assert.match(metrics, /^nango_mirror_nango_requests_total\{status="200",reason="reconcile"\} 20$/m);
            assert.match(metrics, /^nango_mirror_nango_requests_total\{status="200",reason="webhook"\} 1$/m);
            assert.match(metrics, /^nango_mirror_nango_requests_total\{status="200",reason="sync_status"\} 1$/m);
        });
    });
}
