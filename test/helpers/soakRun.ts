/**
 * The fault soak (issue 5, item 2), shared by test/e2e/soak.test.ts (small) and
 * `npm run bench -- soak` (full size): the fake Nango answers 10% 500, 5% 429 (Retry-After 0..2),
 * 3% HTML 502, 2% reset sockets and 2% 2-second stalls (the client times out at 1 s), while
 * records are mirrored and changed between webhook rounds. Then the faults stop, one webhook per
 * key, and every key must be exact. The run reports what happened; the caller judges it.
 *
 * The mutations replay exactly from the seed; the faults follow the same random sequence, but
 * which request gets which fault depends on request timing.
 */
import assert from 'node:assert/strict';
import type { Fault } from '../fakes/fakeNango.js';
import type { RecordInput } from '../fakes/fakeRecordStore.js';
import type { EngineName } from './engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, waitFor, type Harness, type TestKey } from './harness.js';
import { seededRandom, type SeededRandom } from './seededRandom.js';

export type FaultKind = '500' | '429' | '502' | 'reset' | 'stall';
export type MutationKind = 'update' | 'add' | 'batchDelete' | 'trackDelete' | 'prune' | 'undelete';

export interface SoakOptions {
    engine: EngineName;
    seed: number;
    keys: number;
    recordsPerKey: number;
    /** Rounds of webhooks, each followed by changes to every key while its pulls run. */
    rounds: number;
    /**
     * 429s beyond this many are not injected: each one holds every request back max(1, Retry-After) s
     * (one rate-limit bucket per account), which is what makes a soak slow.
     * @default Infinity
     */
    max429?: number;
    /** @default 20 */
    pageSize?: number;
    /** How long the pulls of one round may take to catch up under faults. @default 60_000 */
    roundTimeoutMs?: number;
}

export interface SoakResult {
    engine: EngineName;
    seed: number;
    keys: number;
    recordsPerKey: number;
    rounds: number;
    pageSize: number;
    /** `GET /records` requests while the faults were on, and in all. */
    faultWindowRequests: number;
    requests: number;
    faults: Record<FaultKind, number>;
    /** Records changed by each kind of mutation, over all rounds. */
    mutations: Record<MutationKind, number>;
    /** What Nango holds at the end, deleted records included, and the mirror's rows. */
    records: number;
    mirrorRows: number;
    pulls: { ok: number; failed: number };
    exactKeys: number;
    /** The first difference found, when a key is not exact. */
    mismatch: Error | undefined;
    ms: number;
}

const HTML_502 = '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';

/** One fault or none per records request, in the proportions. */
function faultInjector(rng: SeededRandom, counts: Record<FaultKind | 'requests', number>, max429: number): () => Fault | undefined {
    return () => {
        counts.requests++;
        const r = rng.next();
        if (r < 0.1) {
            counts['500']++;
            return { status: 500, body: { error: { code: 'server_error', message: 'Failed to fetch records' } } };
        }
        if (r < 0.15) {
            if (counts['429'] >= max429) return undefined;
            counts['429']++;
            return {
                status: 429,
                body: { error: { code: 'too_many_request', method: 'GET', path: '/records' } },
                headers: { 'Retry-After': String(rng.int(3)), 'X-RateLimit-Limit': '1000', 'X-RateLimit-Remaining': '0' },
            };
        }
        if (r < 0.18) {
            counts['502']++;
            return { status: 502, body: HTML_502, headers: { 'Content-Type': 'text/html' } };
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
function mutate(h: Harness, key: TestKey, rng: SeededRandom, round: number, recordsPerKey: number, counts: Record<MutationKind, number>): void {
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
    const n = Math.max(1, Math.round(recordsPerKey / 50));
    const ops: MutationKind[] =
        rng.int(2) === 0 ? ['update', 'add', 'batchDelete', 'trackDelete', 'prune', 'undelete'] : ['prune', 'trackDelete', 'undelete', 'update', 'batchDelete', 'add'];
    for (const op of ops) {
        switch (op) {
            case 'update':
                counts.update += h.fake.save(fk, some(live, n * 3).map((id): RecordInput => ({ id, round, value: rng.int(1_000_000) }))).updated;
                break;
            case 'add':
                counts.add += h.fake.save(fk, Array.from({ length: n }, (_, i): RecordInput => ({ id: `${key.connectionId}-new-${round}-${i}`, round, value: rng.int(1_000_000) }))).added;
                break;
            case 'batchDelete':
                counts.batchDelete += h.fake.batchDelete(fk, some(live, n).map((id) => ({ id }))).deleted;
                break;
            case 'trackDelete':
                counts.trackDelete += h.fake.trackDelete(fk, some(live, n)).deleted;
                break;
            case 'prune':
                counts.prune += h.fake.prune(fk, some(ids, n));
                break;
            case 'undelete':
                counts.undelete += h.fake.save(fk, some(deleted, n).map((id): RecordInput => ({ id, round, undeleted: true, value: rng.int(1_000_000) }))).added;
                break;
        }
    }
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
    const { engine, seed, keys: keyCount, recordsPerKey, rounds } = options;
    const pageSize = options.pageSize ?? 20;
    const roundTimeoutMs = options.roundTimeoutMs ?? 60_000;
    const h = await startHarness({
        engine,
        config: {
            logLevel: 'info',
            sync: {
                pageSize,
                requestTimeoutSeconds: 1,
                retry: { attempts: 8, baseDelayMs: 5, maxDelayMs: 50, failedPullDelayMs: 100, failedPullMaxDelayMs: 500 },
            },
        },
    });
    const data = seededRandom(seed);
    const faultRng = seededRandom((seed ^ 0x9e3779b9) >>> 0);
    const counts: Record<FaultKind | 'requests', number> = { requests: 0, '500': 0, '429': 0, '502': 0, reset: 0, stall: 0 };
    const mutations: Record<MutationKind, number> = { update: 0, add: 0, batchDelete: 0, trackDelete: 0, prune: 0, undelete: 0 };
    const t0 = Date.now();
    try {
        const keys = Array.from({ length: keyCount }, (_, i) => testKey(i % 2 === 0 ? 'Contact' : 'Deal', `soak-${i}`));
        for (const key of keys) {
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.saveGenerated(fakeKey(key), recordsPerKey, (i) => ({ id: `${key.connectionId}-${i}`, value: i }), 100);
        }
        const requestsBefore = h.fake.requestCount;
        h.fake.inject(faultInjector(faultRng, counts, options.max429 ?? Infinity));
        const covered = async (requireOk: boolean) => {
            if (h.daemon.scheduler.activeCount > 0) return false;
            for (const key of keys) {
                const s = await h.state(key);
                if (!s || s.request_seq > s.done_seq || (requireOk && s.status !== 'ok')) return false;
            }
            return h.daemon.scheduler.activeCount === 0;
        };
        for (let round = 0; round < rounds; round++) {
            const answers = await Promise.all(keys.map((key) => h.sendSync(key)));
            assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]), 'every webhook is acknowledged');
            // Change the records while the pulls run (and fail, and retry)...
            await new Promise((r) => setTimeout(r, data.int(400)));
            for (const key of keys) mutate(h, key, data, round + 1, recordsPerKey, mutations);
            // ...and let them catch up with the webhooks, faults still on (a failed pull comes back after its backoff).
            await waitFor(() => covered(false), roundTimeoutMs, `round ${round + 1}'s pulls to finish under faults`);
        }
        const { requests: faultWindowRequests, ...faults } = counts;
        // The faults stop; one webhook per key covers the last changes.
        h.fake.inject(undefined);
        for (const key of keys) assert.equal((await h.sendSync(key)).status, 200);
        await waitFor(() => covered(true), roundTimeoutMs, 'every key to be ok and idle');
        let exactKeys = 0;
        let mismatch: Error | undefined;
        let records = 0;
        for (const key of keys) {
            records += h.fake.records(fakeKey(key)).size;
            try {
                await assertMirrorExact(h, key);
                exactKeys++;
            } catch (err) {
                mismatch ??= err as Error;
            }
        }
        const [rows] = await h.reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_records');
        const finished = h.logs.filter((l) => l.msg === 'pull finished');
        return {
            engine,
            seed,
            keys: keyCount,
            recordsPerKey,
            rounds,
            pageSize,
            faultWindowRequests,
            requests: h.fake.requestCount - requestsBefore,
            faults,
            mutations,
            records,
            mirrorRows: Number(rows?.n),
            pulls: { ok: finished.filter((l) => l['outcome'] === 'ok').length, failed: finished.filter((l) => l['outcome'] === 'failed').length },
            exactKeys,
            mismatch,
            ms: Date.now() - t0,
        };
    } finally {
        h.fake.inject(undefined);
        await h.close();
    }
}
