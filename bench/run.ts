// `npm run bench [-- ingest] [--records N]`: benchmarks that print a table; never part of `npm test`.
// Exits 1 when a target is missed, so a regression is visible in the exit code too.
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchIngest } from './ingest.js';

const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
        records: { type: 'string', default: process.env['BENCH_RECORDS'] ?? '200000' },
        rounds: { type: 'string', default: process.env['BENCH_ROUNDS'] ?? '3' },
    },
});
const which = positionals[0] ?? 'ingest';
const records = Number(values.records);
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;

if (which !== 'ingest') {
    console.error(`Unknown benchmark ${JSON.stringify(which)}; available: ingest`);
    process.exit(2);
}

console.log(`ingest benchmark: ${records.toLocaleString('en')} records of ~1 KB, one webhook, SQLite — ${machine}`);
const r = await benchIngest(records, '.bench/ingest', Number(values.rounds));
const RATIO_TARGET = 0.6;
const RSS_TARGET_MB = 300;
console.log(`median of ${r.rounds.length} rounds:`);
const rows = [
    ['daemon (HTTP → SQLite)', `${Math.round(r.daemonRate).toLocaleString('en')} rec/s`, `${r.daemonSeconds.toFixed(2)} s`],
    ['ceiling (better-sqlite3 only)', `${Math.round(r.ceilingRate).toLocaleString('en')} rec/s`, `${r.ceilingSeconds.toFixed(2)} s`],
    ['ratio daemon / ceiling', `${r.ratio.toFixed(2)}`, `target ≥ ${RATIO_TARGET}`],
    ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, `target < ${RSS_TARGET_MB} MB`],
];
for (const [a, b, c] of rows) console.log(`  ${a!.padEnd(32)} ${b!.padStart(16)}   ${c}`);
mkdirSync('.bench', { recursive: true });
writeFileSync('.bench/ingest.json', `${JSON.stringify({ ...r, machine, at: new Date().toISOString() }, null, 2)}\n`);
const ok = r.ratio >= RATIO_TARGET && r.peakRssMb < RSS_TARGET_MB;
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
