/**
 * Crash test (issue 5, item 3): the real CLI pulls one key and is SIGKILLed at random moments,
 * restarted each time with no new webhook. After every kill, every record at or before the stored
 * cursor (in Nango's (updated_at, uuid) order) is in the mirror; at the end the mirror is exact.
 *
 * Small by default for the suite. The issue's full size, by hand:
 *   CRASH_KILLS=20 CRASH_RECORDS=100000 node scripts/run-tests.mjs crash
 * CRASH_SEED replays the kill moments; CRASH_PAGE_SIZE and CRASH_PAGE_DELAY_MS (per request,
 * so a small pull is not over before the first kill) tune it.
 */
import assert from 'node:assert/strict';
import { rmSync, statSync } from 'node:fs';
import { describe, test } from 'node:test';
import { FakeNango } from '../fakes/fakeNango.js';
import type { RecordState } from '../fakes/fakeRecordStore.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig, type DaemonProcess } from '../helpers/daemonProcess.js';
import { createTestDatabase, testEngines } from '../helpers/engines.js';
import { API_KEY, SIGNING_KEY, assertMirrorExact, fakeKey, makeTempDir, mirrorQueries, testKey, waitFor } from '../helpers/harness.js';
import { seedFromEnv, seededRandom } from '../helpers/seededRandom.js';

const engines = await testEngines();
const SEED = seedFromEnv('CRASH_SEED', 'FUZZ_SEED');
const KILLS = Number(process.env['CRASH_KILLS'] ?? 5);
const RECORDS = Number(process.env['CRASH_RECORDS'] ?? 20_000);
const PAGE_SIZE = Number(process.env['CRASH_PAGE_SIZE'] ?? 200);
const PAGE_DELAY_MS = Number(process.env['CRASH_PAGE_DELAY_MS'] ?? 10);
console.log(`crash: seed ${SEED} (replay with CRASH_SEED=${SEED}), ${KILLS} kills during a ${RECORDS}-record pull, pages of ${PAGE_SIZE}`);

/** Nango's order: (updated_at, uuid). */
function nangoOrder(records: Map<string, RecordState>): Array<RecordState & { id: string }> {
    return [...records]
        .map(([id, r]) => ({ id, ...r }))
        .sort((a, b) => (a.updatedAtMicros === b.updatedAtMicros ? (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0) : a.updatedAtMicros < b.updatedAtMicros ? -1 : 1));
}

for (const engine of engines) {
    describe(`[${engine}] crash: SIGKILL during a pull (seed ${SEED})`, () => {
        test(`${KILLS} SIGKILLs during a ${RECORDS}-record pull: the cursor is never ahead of the data, and the mirror ends exact`, { timeout: Math.max(120_000, KILLS * 30_000) }, async () => {
            const rng = seededRandom(SEED);
            const fake = new FakeNango({ apiKey: API_KEY, maxLog: 0 });
            const url = await fake.start();
            const dir = makeTempDir();
            const database = await createTestDatabase(engine, dir);
            const reader = database.reader();
            const q = mirrorQueries(reader);
            let daemon: DaemonProcess | undefined;
            const t0 = Date.now();
            try {
                const configPath = writeConfig(dir, {
                    nango: { host: url, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
                    server: { host: '127.0.0.1', port: 0, adminPort: 0 },
                    // SQLite: a WAL bound of 1 MB, so the WAL starts over again and again during the pull
                    // (the pull waiting for the checkpoint between two pages) and kills land around it.
                    database: { ...database.database, walMaxMb: 1 },
                    sync: { pageSize: PAGE_SIZE, reconcileIntervalSeconds: 0, retry: { attempts: 3, baseDelayMs: 5 } },
                });
                const key = testKey('Contact', 'conn-crash');
                fake.addConnection(key.providerConfigKey, key.connectionId);
                // Batches of 500 share a timestamp, so ties are broken by uuid, as in Nango.
                fake.saveGenerated(fakeKey(key), RECORDS, (i) => ({ id: `r-${String(i).padStart(7, '0')}`, n: i, body: 'x'.repeat(100) }), 500);
                const ordered = nangoOrder(fake.records(fakeKey(key)));
                const position = new Map(ordered.map((r, i) => [r.cursor, i]));
                // Slow each page a little, so the kills land inside the pull.
                let recordsRequests = 0;
                /** The cursor of the first request at or after request number `firstN`. */
                let firstCursor: string | null | undefined;
                let firstN = Infinity;
                fake.inject((req) => {
                    recordsRequests++;
                    if (req.n >= firstN) {
                        firstCursor = req.query.get('cursor');
                        firstN = Infinity;
                    }
                    return PAGE_DELAY_MS > 0 ? { delayMs: PAGE_DELAY_MS } : undefined;
                });

                // The kill moments: a count of committed rows to reach, then a random extra wait.
                const targets = Array.from({ length: KILLS }, () => Math.floor(RECORDS * (0.02 + 0.93 * rng.next()))).sort((a, b) => a - b);
                const countRows = async () => Number((await reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_records'))[0]?.n);

                daemon = await spawnDaemon(configPath);
                assert.equal((await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)).status, 200);
                let previous = -1;
                for (const [k, target] of targets.entries()) {
                    await waitFor(async () => (await countRows()) >= target, 60_000, `${target} rows before kill ${k + 1}`);
                    await new Promise((r) => setTimeout(r, rng.int(PAGE_DELAY_MS * 3 + 20)));
                    await daemon.kill('SIGKILL');
                    daemon = undefined;

                    const state = await q.state(key);
                    const cursor = state?.cursor ?? null;
                    const at = cursor === null ? -1 : position.get(cursor);
                    assert.ok(at !== undefined, `kill ${k + 1}: the stored cursor ${cursor} is the cursor of a record`);
                    assert.ok(at >= previous, `kill ${k + 1}: the cursor never moves back (${at} < ${previous})`);
                    const mirrored = new Set((await q.rows(key)).map((r) => r.id));
                    const missing = ordered.slice(0, at + 1).filter((r) => !mirrored.has(r.id));
                    assert.deepEqual(missing.slice(0, 5).map((r) => r.id), [], `kill ${k + 1}: ${missing.length} records at or before the cursor (position ${at}) are missing`);
                    // No changes upstream during this test, so nothing past the cursor is there either: a page commits whole, with its cursor.
                    assert.equal(mirrored.size, at + 1, `kill ${k + 1}: the mirror holds exactly the records up to the cursor`);
                    console.log(`crash [${engine}] kill ${k + 1}/${KILLS}: ${mirrored.size} rows, cursor at record ${at + 1}`);
                    previous = at;

                    // Restart with no new webhook: the stored request resumes from the stored cursor.
                    firstCursor = undefined;
                    firstN = fake.requestCount + 1;
                    daemon = await spawnDaemon(configPath);
                    if (state !== undefined && state.request_seq > state.done_seq) {
                        await waitFor(() => firstCursor !== undefined, 30_000, `the restarted daemon's first request (kill ${k + 1})`);
                        assert.equal(firstCursor, cursor, `after kill ${k + 1}, the pull resumes at the stored cursor`);
                    }
                }
                await waitFor(
                    async () => {
                        const s = await q.state(key);
                        return s !== undefined && s.status === 'ok' && s.request_seq <= s.done_seq;
                    },
                    120_000,
                    'the last pull to finish',
                );
                await assertMirrorExact({ rows: q.rows, fake }, key);
                if (engine === 'sqlite') console.log(`crash [sqlite] WAL file at the end: ${statSync(`${database.database.url.slice('sqlite:'.length)}-wal`).size} bytes`);
                console.log(`crash [${engine}] seed ${SEED}: ${KILLS} kills, ${RECORDS} records, ${recordsRequests} records requests, ${Date.now() - t0} ms`);
            } finally {
                fake.inject(undefined);
                await daemon?.kill('SIGTERM');
                await reader.close();
                await database.drop();
                await fake.stop();
                rmSync(dir, { recursive: true, force: true });
            }
        });
    });
}
