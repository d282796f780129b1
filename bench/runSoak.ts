// `npm run bench -- soak [--records 50000] [--keys 20] [--rounds 8] [--page-size 100] [--seed N]
// [--engine sqlite|postgres|all]`: the fault soak (issue 5 item 2) at full size, one table per
// engine. The run is test/helpers/soakRun.ts, the same one `npm test` runs small; here every 429
// is injected (the test caps them). It passes only when every key's mirror ends exact.
import { parseArgs } from 'node:util';
import { seedFromEnv } from '../test/helpers/seededRandom.js';
import { runSoak, type SoakResult } from '../test/helpers/soakRun.js';
import { ENGINE_NAME, machine, parseEngines, intOption, printRows, readOptions, runOnEngines, writeResult } from './benchCommand.js';

const count = (n: number): string => n.toLocaleString('en');

export async function runSoakBench(argv: string[]): Promise<number> {
    const o = readOptions(() => {
        const { values } = parseArgs({
            args: argv,
            options: {
                records: { type: 'string', default: '50000' },
                keys: { type: 'string', default: '20' },
                rounds: { type: 'string', default: '8' },
                'page-size': { type: 'string', default: '100' },
                seed: { type: 'string' },
                engine: { type: 'string', default: 'all' },
            },
        });
        const keys = intOption('keys', values.keys);
        return {
            keys,
            recordsPerKey: Math.ceil(intOption('records', values.records) / keys),
            rounds: intOption('rounds', values.rounds),
            pageSize: intOption('page-size', values['page-size']),
            seed: values.seed === undefined ? seedFromEnv('SOAK_SEED') : intOption('seed', values.seed, 0),
            engines: parseEngines(values.engine),
        };
    });
    return runOnEngines(o.engines, async (engine) => {
        console.log(
            `\nsoak: ${count(o.keys * o.recordsPerKey)} records over ${o.keys} keys, ${o.rounds} rounds of changes under faults, pages of ${o.pageSize}, ` +
                `${ENGINE_NAME[engine]}, seed ${o.seed} (replay with --seed ${o.seed}) — ${machine()}`,
        );
        // A round waits for pulls that every 429 holds back by 1 to 2 s, all keys at once.
        const r = await runSoak({ engine, seed: o.seed, keys: o.keys, recordsPerKey: o.recordsPerKey, rounds: o.rounds, pageSize: o.pageSize, roundTimeoutMs: 1_800_000 });
        printRows(soakRows(r));
        writeResult(`soak-${engine}`, { ...r, mismatch: r.mismatch?.message ?? null });
        if (r.mismatch) console.log(`  first difference: ${r.mismatch.message}`);
        return {
            ok: r.exactKeys === r.keys,
            line: `${r.exactKeys} of ${r.keys} keys exact, ${count(r.faultWindowRequests)} requests under faults, ${(r.ms / 1000).toFixed(0)} s`,
        };
    });
}

function soakRows(r: SoakResult): Array<[string, string, string]> {
    const share = (n: number) => `${((n / r.faultWindowRequests) * 100).toFixed(1)} %`;
    const m = r.mutations;
    return [
        ['records requests', count(r.requests), `${count(r.faultWindowRequests)} while the faults were on`],
        ['  answered 500', count(r.faults['500']), `${share(r.faults['500'])} (10 % asked)`],
        ['  answered 429', count(r.faults['429']), `${share(r.faults['429'])} (5 %), Retry-After 0 to 2 s`],
        ['  answered 502 (HTML)', count(r.faults['502']), `${share(r.faults['502'])} (3 %)`],
        ['  connection reset', count(r.faults.reset), `${share(r.faults.reset)} (2 %)`],
        ['  stalled 2 s', count(r.faults.stall), `${share(r.faults.stall)} (2 %), the client gives up at 1 s`],
        ['records changed', count(Object.values(m).reduce((a, b) => a + b, 0)), `${count(m.update)} updated, ${count(m.add)} added, ${count(m.batchDelete)} batch-deleted, ${count(m.trackDelete)} track-deleted, ${count(m.prune)} pruned, ${count(m.undelete)} undeleted`],
        ['pulls ok / failed', `${count(r.pulls.ok)} / ${count(r.pulls.failed)}`, 'a failed pull comes back after its backoff'],
        ['records in Nango', count(r.records), `mirror rows ${count(r.mirrorRows)}, deleted ones included`],
        ['time', `${(r.ms / 1000).toFixed(1)} s`, ''],
        ['keys exact', `${r.exactKeys} / ${r.keys}`, `target ${r.keys}: ${r.exactKeys === r.keys ? 'exact' : 'NOT EXACT'}`],
    ];
}
