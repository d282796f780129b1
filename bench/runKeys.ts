// `npm run bench -- keys [--keys 20000] [--integrations 10] [--engine sqlite|postgres|all]`: the
// Nango requests of a reconcile pass over many keys with nothing changed. Target: at most 2 per
// integration (one per integration is the status; before issue 10 a pass cost one per key); the
// status page and its JSON under 200 ms (the /metrics figure and the /healthz waits are printed, not judged).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_NAME, intOption, machine, parseEngines, printRows, readOptions, runOnEngines, writeResult } from './benchCommand.js';
import { benchReconcileKeys } from './keys.js';

export async function runKeysBench(argv: string[]): Promise<number> {
    const options = readOptions(() => {
        const { values } = parseArgs({
            args: argv,
            options: {
                keys: { type: 'string', default: '20000' },
                integrations: { type: 'string', default: '10' },
                engine: { type: 'string', default: 'all' },
            },
        });
        return { keys: intOption('keys', values.keys), integrations: intOption('integrations', values.integrations), engines: parseEngines(values.engine) };
    });
    return runOnEngines(options.engines, async (engine) => {
        console.log(`\nreconcile at many keys: ${options.keys.toLocaleString('en')} keys over ${options.integrations} integrations × 4 models, 3 records each, ${ENGINE_NAME[engine]} — ${machine()}`);
        const r = await benchReconcileKeys({ ...options, engine, workDir: join('.bench', `keys-${engine}`) });
        const target = 2 * r.integrations;
        const requests = r.pass.statusRequests + r.pass.recordsRequests + r.pass.otherRequests;
        printRows([
            ['backfill by webhooks', `${r.backfillSeconds.toFixed(1)} s`, `${Math.round(r.keys / r.backfillSeconds).toLocaleString('en')} keys/s`],
            ['Nango requests of a pass', String(requests), `target ≤ ${target} (2 per integration); ${r.pass.statusRequests} GET /sync/status, ${r.pass.recordsRequests} GET /records; before: ${r.keys.toLocaleString('en')}`],
            ['keys the pass pulled', String(r.pass.keysPulled), `${r.pass.unchanged.toLocaleString('en')} unchanged`],
            ['time of the pass', `${r.pass.durationMs} ms`, ''],
            ...r.surfaces.map((t): [string, string, string] => [
                `GET ${t.path}`,
                `${t.medianMs.toFixed(0)} ms`,
                `target < ${surfaceTargetMs(t.path)} ms; median of 7, max ${t.maxMs.toFixed(0)} ms; ${(t.bytes / 1024).toFixed(0)} KiB; /healthz waited up to ${t.healthzMaxMs.toFixed(0)} ms meanwhile (target < 50)`,
            ]),
            ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, 'the restarted daemon'],
        ]);
        writeResult(`keys-${engine}`, r);
        const slowest = (prefix: string) => Math.max(...r.surfaces.filter((t) => t.path === prefix || t.path.startsWith(`${prefix}?`)).map((t) => t.medianMs));
        const statusMs = Math.max(slowest('/'), slowest('/status.json'));
        return {
            ok: requests <= target && statusMs < surfaceTargetMs('/'),
            line: `${requests} Nango requests for a pass over ${r.keys.toLocaleString('en')} unchanged keys (≤ ${target}), pass ${r.pass.durationMs} ms, status page ${statusMs.toFixed(0)} ms (< ${surfaceTargetMs('/')}), /metrics ${slowest('/metrics').toFixed(0)} ms, ${r.peakRssMb.toFixed(0)} MB`,
        };
    });
}

/** Issue 10: the status page and its JSON under 200 ms at 20,000 keys, `/metrics` under 50 ms. */
function surfaceTargetMs(path: string): number {
    return path.startsWith('/metrics') ? 50 : 200;
}
