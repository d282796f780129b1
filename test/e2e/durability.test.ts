import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { createTestDatabase, testEngines, type MirrorReader, type TestDatabase } from '../helpers/engines.js';
import { API_KEY, SIGNING_KEY, assertMirrorExact, fakeKey, makeTempDir, mirrorQueries, startHarness, testKey, waitFor } from '../helpers/harness.js';

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] durability: crashes and restarts`, () => {
        let fake: FakeNango;
        let dir: string;
        let configPath: string;
        let database: TestDatabase;
        let reader: MirrorReader;

        before(async () => {
            fake = new FakeNango({ apiKey: API_KEY });
            const url = await fake.start();
            dir = makeTempDir();
            database = await createTestDatabase(engine, dir);
            reader = database.reader();
            configPath = writeConfig(dir, {
                nango: { host: url, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
                server: { host: '127.0.0.1', port: 0, adminPort: 0 },
                database: database.database,
                sync: { pageSize: 1000, reconcileIntervalSeconds: 0, retry: { attempts: 2, baseDelayMs: 5 } },
            });
        });
        after(async () => {
            await reader.close();
            await database.drop();
            await fake.stop();
            rmSync(dir, { recursive: true, force: true });
        });

        const mirror = () => ({ rows: mirrorQueries(reader).rows, fake });
        const storedCursor = async (k: ReturnType<typeof testKey>) => (await mirrorQueries(reader).state(k))?.cursor ?? null;

        test('killed between pages, the daemon resumes from the stored cursor with no new webhook: nothing lost, nothing fetched twice', async () => {
            const key = testKey('Contact', 'conn-crash');
            fake.addConnection(key.providerConfigKey, key.connectionId);
            fake.saveGenerated(fakeKey(key), 5000, (i) => ({ id: `r-${String(i).padStart(5, '0')}`, body: 'x'.repeat(200) }));
            // Page 3 stalls, so the kill lands after pages 1 and 2 committed.
            fake.inject((req) => (req.query.get('cursor') && fake.requests.filter((r) => r.path.startsWith('/records')).length >= 2 ? { delayMs: 30_000 } : undefined));
            const daemon = await spawnDaemon(configPath);
            assert.equal((await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)).status, 200);
            await waitFor(async () => (await mirror().rows(key)).length === 2000, 15_000, 'two pages to commit');
            await daemon.kill('SIGKILL');

            // The cursor is never ahead of the rows: it is the cursor of the last committed record.
            const cursorAtKill = await storedCursor(key);
            const ordered = [...fake.records(fakeKey(key))].map(([id, r]) => ({ id, ...r })).sort((a, b) => (a.updatedAtMicros === b.updatedAtMicros ? (a.uuid < b.uuid ? -1 : 1) : a.updatedAtMicros < b.updatedAtMicros ? -1 : 1));
            assert.equal(cursorAtKill, ordered[1999]!.cursor);
            const mirrored = new Set((await mirror().rows(key)).map((r) => r.id));
            for (const rec of ordered.slice(0, 2000)) assert.ok(mirrored.has(rec.id), `${rec.id} at or before the cursor is in the mirror`);

            fake.inject(undefined);
            const requestsBefore = fake.requests.length;
            const restarted = await spawnDaemon(configPath);
            try {
                await waitFor(async () => (await mirror().rows(key)).length === 5000, 15_000, 'the resumed pull to finish');
                await waitFor(() => restarted.logs.some((l) => l.msg === 'pull finished' && l['outcome'] === 'ok'), 5000, 'the pull to finish');
                assert.ok(restarted.logs.some((l) => l.msg === 'resuming pulls interrupted by the last stop'));
                const resumed = fake.requests.slice(requestsBefore).filter((r) => r.path.startsWith('/records'));
                assert.equal(resumed[0]!.query['cursor'], cursorAtKill, 'the first request after the restart starts at the stored cursor');
                assert.equal(resumed.length, 3, 'pages 3, 4 and 5 only');
                await assertMirrorExact(mirror(), key);
            } finally {
                await restarted.kill('SIGTERM');
            }
        });

        test('a webhook acknowledged just before a crash is still pulled after the restart, with no new webhook and no reconcile', async () => {
            const key = testKey('Company', 'conn-ack');
            fake.addConnection(key.providerConfigKey, key.connectionId);
            fake.save(fakeKey(key), [{ id: 'a1' }, { id: 'a2' }]);
            fake.inject((req) => (req.headers['connection-id'] === 'conn-ack' ? { delayMs: 30_000 } : undefined));
            const daemon = await spawnDaemon(configPath);
            const res = await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY);
            assert.equal(res.status, 200);
            await daemon.kill('SIGKILL');
            fake.inject(undefined);
            const restarted = await spawnDaemon(configPath);
            try {
                await waitFor(async () => (await mirror().rows(key)).length === 2, 15_000, 'the stored request to be pulled');
                await assertMirrorExact(mirror(), key);
            } finally {
                await restarted.kill('SIGTERM');
            }
        });
    });

    describe(`[${engine}] durability: coalescing`, () => {
        test('1000 concurrent webhooks for one key cost one pull plus at most one more', async () => {
            // A long client timeout: the held first page must not time out however slow the burst is.
            const h = await startHarness({ engine, config: { sync: { requestTimeoutSeconds: 300 } } });
            try {
                const key = testKey('Contact', 'conn-burst');
                h.fake.addConnection(key.providerConfigKey, key.connectionId);
                h.fake.saveGenerated(fakeKey(key), 3000, (i) => ({ id: i }));
                // The first page is held until the whole burst is acknowledged, so every webhook after
                // the first arrives while the first pull runs. The burst waits for that request to
                // reach the fake: a page worker starting on a loaded machine once came after the
                // whole burst (a flaky run, not the daemon's fault).
                let release!: () => void;
                const held = new Promise<void>((r) => (release = r));
                const first = h.fake.requestCount + 1;
                h.fake.inject((req) => (req.n === first ? { until: held } : undefined));
                const opening = await h.sendSync(key);
                await waitFor(() => h.fake.requestCount === first, 15_000, 'the first pull to ask for its first page');
                const results = [opening, ...(await Promise.all(Array.from({ length: 999 }, () => h.sendSync(key))))];
                assert.equal(h.fake.requestCount, first, 'the first pull is still on its first page');
                release();
                h.fake.inject(undefined);
                assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
                await h.waitIdle(30_000);
                const pulls = h.logs.filter((l) => l.msg === 'pull finished' && l['key'] === 'hubspot/conn-burst/Contact');
                assert.ok(pulls.length >= 1 && pulls.length <= 2, `${pulls.length} pulls`);
                assert.equal((await h.state(key))!.request_seq, 1000);
                assert.equal((await h.state(key))!.done_seq, 1000);
                await assertMirrorExact(h, key);
            } finally {
                await h.close();
            }
        });
    });
}
