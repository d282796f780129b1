/**
 * Fault soak (issue 5, item 2) at a small size; `npm run bench -- soak` runs it at full size. The
 * run itself is test/helpers/soakRun.ts. Here the 429s are capped (SOAK_MAX_429, default 5) so the
 * test stays fast: the daemon waits max(1, Retry-After) s per 429.
 *
 * SOAK_SEED (or FUZZ_SEED) replays a run: the mutations replay exactly; the faults follow the same
 * random sequence, but which request gets which fault depends on request timing.
 * SOAK_KEYS, SOAK_RECORDS (per key) and SOAK_ROUNDS scale it up by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { seedFromEnv } from '../helpers/seededRandom.js';
import { runSoak } from '../helpers/soakRun.js';

const engines = await testEngines();
const SEED = seedFromEnv('SOAK_SEED', 'FUZZ_SEED');
const KEYS = Number(process.env['SOAK_KEYS'] ?? 10);
const RECORDS_PER_KEY = Number(process.env['SOAK_RECORDS'] ?? 500);
const ROUNDS = Number(process.env['SOAK_ROUNDS'] ?? 8);
const MAX_429 = Number(process.env['SOAK_MAX_429'] ?? 5);
console.log(`soak: seed ${SEED} (replay with SOAK_SEED=${SEED}), ${KEYS} keys × ${RECORDS_PER_KEY} records, ${ROUNDS} rounds`);

for (const engine of engines) {
    describe(`[${engine}] soak: faults while records change (seed ${SEED})`, () => {
        test(`${KEYS} keys × ${RECORDS_PER_KEY} records, ${ROUNDS} rounds of changes under 500/429/502/reset/stall faults end exact`, { timeout: Math.max(120_000, KEYS * RECORDS_PER_KEY * 20) }, async () => {
            const r = await runSoak({ engine, seed: SEED, keys: KEYS, recordsPerKey: RECORDS_PER_KEY, rounds: ROUNDS, max429: MAX_429 });
            const injected = Object.values(r.faults).reduce((a, b) => a + b, 0);
            console.log(`soak [${engine}] seed ${SEED}: ${r.requests} records requests (${r.faultWindowRequests} under faults, ${injected} faulted), faults ${JSON.stringify(r.faults)}, ${r.ms} ms`);
            if (r.mismatch) throw r.mismatch;
            assert.ok(r.faults['500'] > 0 && r.faults['502'] + r.faults.reset + r.faults.stall > 0, `faults were injected: ${JSON.stringify(r.faults)}`);
            assert.ok(injected >= r.faultWindowRequests * 0.05, `about a fifth of the requests under faults were faulted: ${injected} of ${r.faultWindowRequests}`);
            assert.ok(r.pulls.ok > 0, 'some pull finished ok');
        });
    });
}
