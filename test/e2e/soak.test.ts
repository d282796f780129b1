/**
 * Fault soak (issue 5, item 2) at a small size: the fake Nango answers 10% 500, 5% 429
 * (Retry-After 0..2, capped so the test stays fast: the daemon waits max(1, Retry-After) s per
 * 429), 3% HTML 502, 2% reset sockets and 2% 2-second stalls (the client times out at 1 s), while
 * records are mirrored and changed between webhook rounds. Then the faults stop, one webhook per
 * key, and every key must be exact.
 *
 * SOAK_SEED (or FUZZ_SEED) replays a run: the mutations replay exactly; the faults follow the same
 * random sequence, but which request gets which fault depends on request timing.
 * SOAK_KEYS, SOAK_RECORDS (per key) and SOAK_ROUNDS scale it up by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Fault } from '../fakes/fakeNango.js';
import type { RecordInput } from '../fakes/fakeRecordStore.js';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness, type TestKey } from '../helpers/harness.js';
import { seedFromEnv, seededRandom, type SeededRandom } from '../helpers/seededRandom.js';

const engines = await testEngines();
const SEED = seedFromEnv('SOAK_SEED', 'FUZZ_SEED');
const KEYS = Number(process.env['SOAK_KEYS'] ?? 10);
const RECORDS_PER_KEY = Number(process.env['SOAK_RECORDS'] ?? 500);
const ROUNDS = Number(process.env['SOAK_ROUNDS'] ?? 8);
const MAX_429 = Number(process.env['SOAK_MAX_429'] ?? 5);
console.log(`soak: seed ${SEED} (replay with SOAK_SEED=${SEED}), ${KEYS} keys × ${RECORDS_PER_KEY} records, ${ROUNDS} rounds`);

type FaultKind = 'requests' | '500' | '429' | '502' | 'reset' | 'stall';

/** One fault or none per records request, in the proportions. */
function faultInjector(rng: SeededRandom, counts: Record<FaultKind, number>): () => Fault | undefined {
    return () => {
        counts.requests++;
        const r = rng.next();
        if (r < 0.1) {
            counts['500']++;
            return { status: 500, body: { error: { code: 'server_error', message: 'Failed to fetch records' } } };
        }
        if (r < 0.15) {
            if (counts['429'] >= MAX_429) return undefined;
            counts['429']++;
            return {
                status: 429,
                body: { error: { code: 'too_many_request', method: 'GET', path: '/records' } },
                headers: { 'Retry-After': String(rng.int(3)), 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '0' },
            };
        }
        if (r < 0.18) {
            counts['502']++;
            return { status: 502, body: '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>', headers: { 'Content-Type': 'text/html' } };
        }
        if (r < 0.2) {
            counts.reset++;
            return { destroy: true };
        }
        if (r < 0.22) {
            counts.stall++;
            return { delayMs: 2000 };
        }
        return undefined;
    };
}

/** Updates, new records, both kinds of delete, prunes and undeletes on one key. */
function mutate(h: Harness, key: TestKey, rng: SeededRandom, round: number): void {
    const fk = fakeKey(key);
    const records = h.fake.records(fk);
    const ids = [...records.keys()].sort();
    const live = ids.filter((id) => !records.get(id)!.deleted);
    const deleted = ids.filter((id) => records.get(id)!.deleted);
    const some = (from: string[], n: number): string[] => {
        const out = new Set<string>();
        for (let i = 0; i < n && from.length > 0; i++) out.add(rng.pick(from));
        return [...out];
    };
    const n = Math.max(1, Math.round(RECORDS_PER_KEY / 50));
    const ops = rng.int(2) === 0 ? ['update', 'add', 'batchDelete', 'trackDelete', 'prune', 'undelete'] : ['prune', 'trackDelete', 'undelete', 'update', 'batchDelete', 'add'];
    for (const op of ops) {
        switch (op) {
            case 'update':
                h.fake.save(fk, some(live, n * 3).map((id): RecordInput => ({ id, round, value: rng.int(1_000_000) })));
                break;
            case 'add':
                h.fake.save(fk, Array.from({ length: n }, (_, i): RecordInput => ({ id: `${key.connectionId}-new-${round}-${i}`, round, value: rng.int(1_000_000) })));
                break;
            case 'batchDelete':
                h.fake.batchDelete(fk, some(live, n).map((id) => ({ id })));
                break;
            case 'trackDelete':
                h.fake.trackDelete(fk, some(live, n));
                break;
            case 'prune':
                h.fake.prune(fk, some(ids, n));
                break;
            case 'undelete':
                h.fake.save(fk, some(deleted, n).map((id): RecordInput => ({ id, round, undeleted: true, value: rng.int(1_000_000) })));
                break;
        }
    }
}

for (const engine of engines) {
    describe(`[${engine}] soak: faults while records change (seed ${SEED})`, () => {
        test(`${KEYS} keys × ${RECORDS_PER_KEY} records, ${ROUNDS} rounds of changes under 500/429/502/reset/stall faults end exact`, { timeout: Math.max(120_000, KEYS * RECORDS_PER_KEY * 20) }, async () => {
            const h = await startHarness({
                engine,
                config: {
                    logLevel: 'info',
                    sync: {
                        pageSize: 20,
                        requestTimeoutSeconds: 1,
                        retry: { attempts: 8, baseDelayMs: 5, maxDelayMs: 50, failedPullDelayMs: 100, failedPullMaxDelayMs: 500 },
                    },
                },
            });
            const data = seededRandom(SEED);
            const faults = seededRandom((SEED ^ 0x9e3779b9) >>> 0);
            const counts: Record<FaultKind, number> = { requests: 0, '500': 0, '429': 0, '502': 0, reset: 0, stall: 0 };
            const t0 = Date.now();
            try {
                const keys = Array.from({ length: KEYS }, (_, i) => testKey(i % 2 === 0 ? 'Contact' : 'Deal', `soak-${i}`));
                for (const key of keys) {
                    h.fake.addConnection(key.providerConfigKey, key.connectionId);
                    h.fake.saveGenerated(fakeKey(key), RECORDS_PER_KEY, (i) => ({ id: `${key.connectionId}-${i}`, value: i }), 100);
                }
                h.fake.inject(faultInjector(faults, counts));
                const covered = async (requireOk: boolean) => {
                    if (h.daemon.scheduler.activeCount > 0) return false;
                    for (const key of keys) {
                        const s = await h.state(key);
                        if (!s || s.request_seq > s.done_seq || (requireOk && s.status !== 'ok')) return false;
                    }
                    return h.daemon.scheduler.activeCount === 0;
                };
                for (let round = 0; round < ROUNDS; round++) {
                    const answers = await Promise.all(keys.map((key) => h.sendSync(key)));
                    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]), 'every webhook is acknowledged');
                    // Change the records while the pulls run (and fail, and retry)...
                    await new Promise((r) => setTimeout(r, data.int(400)));
                    for (const key of keys) mutate(h, key, data, round + 1);
                    // ...and let them catch up with the webhooks, faults still on (a failed pull comes back after its backoff).
                    await waitFor(() => covered(false), 60_000, `round ${round + 1}'s pulls to finish under faults`);
                }
                const faultWindowRequests = counts.requests;
                // The faults stop; one webhook per key covers the last changes.
                h.fake.inject(undefined);
                for (const key of keys) assert.equal((await h.sendSync(key)).status, 200);
                await waitFor(() => covered(true), 60_000, 'every key to be ok and idle');
                for (const key of keys) await assertMirrorExact(h, key);
                const statuses = h.fake.requests.filter((r) => r.path === '/records').map((r) => r.status);
                const injected = counts['500'] + counts['429'] + counts['502'] + counts.reset + counts.stall;
                console.log(`soak [${engine}] seed ${SEED}: ${statuses.length} records requests (${faultWindowRequests} under faults, ${injected} faulted), faults ${JSON.stringify(counts)}, ${Date.now() - t0} ms`);
                assert.ok(counts['500'] > 0 && counts['502'] + counts.reset + counts.stall > 0, `faults were injected: ${JSON.stringify(counts)}`);
                assert.ok(injected >= faultWindowRequests * 0.05, `about a fifth of the requests under faults were faulted: ${injected} of ${faultWindowRequests}`);
                assert.ok(h.logs.some((l) => l.msg === 'pull finished' && l['outcome'] === 'ok'));
            } finally {
                h.fake.inject(undefined);
                await h.close();
            }
        });
    });
}
