// `npm run bench -- scale [--records 1000000] [--engine sqlite|postgres|all]`: memory and rate at
// scale (issue 5 item 5), one table per engine. Targets: peak RSS under 150 MB (issue 14; it was 300), and the last tenth
// of the records mirrored at no less than 80% of the first tenth's rate.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_NAME, machine, parseEngines, intOption, printRows, readOptions, runOnEngines, writeResult } from './benchCommand.js';
import { benchScale } from './scale.js';

const RSS_TARGET_MB = 150;
const MAX_DROP_PERCENT = 20;

const perSecond = (n: number): string => `${Math.round(n).toLocaleString('en')} rec/s`;

export async function runScaleBench(argv: string[]): Promise<number> {
    const { records, engines } = readOptions(() => {
        const { values } = parseArgs({
            args: argv,
            options: {
                records: { type: 'string', default: '1000000' },
                engine: { type: 'string', default: 'all' },
            },
        });
        return { records: intOption('records', values.records), engines: parseEngines(values.engine) };
    });
    return runOnEngines(engines, async (engine) => {
        console.log(`\nscale: ${records.toLocaleString('en')} records of ~1 KB under one key, one webhook, ${ENGINE_NAME[engine]} — ${machine()}`);
        const r = await benchScale({ engine, records, workDir: join('.bench', `scale-${engine}`) });
        printRows([
            ['fake Nango loaded in', `${r.loadSeconds.toFixed(1)} s`, '(before the webhook, not timed)'],
            ['webhook → pull finished', `${r.seconds.toFixed(2)} s`, `${perSecond(r.rate)} (commits ${r.commitSeconds.toFixed(2)} s)`],
            [`first ${r.first.records.toLocaleString('en')} records`, perSecond(r.first.rate), `${r.first.seconds.toFixed(2)} s`],
            [`last ${r.last.records.toLocaleString('en')} records`, perSecond(r.last.rate), `${r.last.seconds.toFixed(2)} s`],
            ['drop, first → last', `${r.dropPercent.toFixed(1)} %`, `target ≤ ${MAX_DROP_PERCENT} %`],
            ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, `target < ${RSS_TARGET_MB} MB`],
            ['rows in the mirror', r.mirrorRows.toLocaleString('en'), `target ${records.toLocaleString('en')}`],
        ]);
        console.log(`  rate by window (from record id: rec/s): ${r.windows.map((w) => `${w.from.toLocaleString('en')}: ${Math.round(w.rate).toLocaleString('en')}`).join(', ')}`);
        writeResult(`scale-${engine}`, r);
        return {
            ok: r.dropPercent <= MAX_DROP_PERCENT && r.peakRssMb < RSS_TARGET_MB && r.mirrorRows === records,
            line:
                `drop ${r.dropPercent.toFixed(1)} % (≤ ${MAX_DROP_PERCENT}), peak RSS ${r.peakRssMb.toFixed(0)} MB (< ${RSS_TARGET_MB}), ` +
                `${r.mirrorRows.toLocaleString('en')} of ${records.toLocaleString('en')} rows, ${perSecond(r.rate)}`,
        };
    });
}
