// `npm run bench [-- sqlite|postgres] [--records N] [--rounds R] [--changes on|off|both]`: the ingest benchmark, one table
// per engine and a summary; never part of `npm test`. Without an engine it runs SQLite, then
// Postgres ($TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test; skipped loudly when
// it does not answer). Exits 1 when an engine misses a target, so a regression shows in the exit code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchIngest } from './ingest.js';
import { benchIngestPostgres, postgresAnswers } from './ingestPostgres.js';
import type { ChangesMode, Engine, IngestResult } from './shared.js';

// The webhook flood, the scale bench and the soak have options of their own.
if (process.argv[2] === 'webhooks') {
    const { runFloodBench } = await import('./runWebhooks.js');
    process.exit(await runFloodBench(process.argv.slice(3)));
}
if (process.argv[2] === 'scale') {
    const { runScaleBench } = await import('./runScale.js');
    process.exit(await runScaleBench(process.argv.slice(3)));
}
if (process.argv[2] === 'keys') {
    const { runKeysBench } = await import('./runKeys.js');
    process.exit(await runKeysBench(process.argv.slice(3)));
}
if (process.argv[2] === 'latency') {
    const { runLatencyBench } = await import('./runLatency.js');
    process.exit(await runLatencyBench(process.argv.slice(3)));
}
if (process.argv[2] === 'soak') {
    const { runSoakBench } = await import('./runSoak.js');
    process.exit(await runSoakBench(process.argv.slice(3)));
}

const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
        records: { type: 'string', default: process.env['BENCH_RECORDS'] ?? '200000' },
        rounds: { type: 'string', default: process.env['BENCH_ROUNDS'] ?? '3' },
        // The daemon's changes.enabled: `both` measures the change log's cost, on and off in each round.
        changes: { type: 'string', default: process.env['BENCH_CHANGES'] ?? 'on' },
    },
});
const ENGINES: Engine[] = ['sqlite', 'postgres'];
const which = positionals[0] ?? 'all';

// `ingest` was the only benchmark's name before there were two engines.
const engines = which === 'all' || which === 'ingest' ? ENGINES : ENGINES.filter((e) => e === which);
if (engines.length === 0 || positionals.length > 1) {
    console.error(`Unknown benchmark ${JSON.stringify(positionals.join(' '))}; available: sqlite, postgres (none: both), webhooks, scale, soak, keys, latency`);
    process.exit(2);
}
if (!['on', 'off', 'both'].includes(values.changes)) {
    console.error('--changes takes on, off or both');
    process.exit(2);
}
const changes = values.changes as ChangesMode;
const records = Number(values.records);
const rounds = Number(values.rounds);
if (!Number.isInteger(records) || records <= 0 || !Number.isInteger(rounds) || rounds <= 0) {
    console.error('--records and --rounds take positive integers');
    process.exit(2);
}
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const pgUrl = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
// Issue 14's targets: ingest at 0.8 of the ceiling, and a sidecar's memory (150 MB for a million records).
const RATIO_TARGET = 0.8;
const RSS_TARGET_MB = 150;
const LABEL: Record<Engine, { daemon: string; ceiling: string }> = {
    sqlite: { daemon: 'daemon (HTTP → SQLite)', ceiling: 'ceiling (better-sqlite3 only)' },
    postgres: { daemon: 'daemon (HTTP → Postgres)', ceiling: 'ceiling (node-postgres only)' },
};

const summary: Array<{ engine: Engine; line: string; status: 'PASS' | 'FAIL' | 'SKIP' }> = [];
for (const engine of engines) {
    console.log(`\ningest benchmark: ${records.toLocaleString('en')} records of ~1 KB, one webhook, ${engine === 'sqlite' ? 'SQLite' : 'Postgres'}, change log ${changes} — ${machine}`);
    let r: IngestResult;
    if (engine === 'sqlite') {
        r = await benchIngest(records, '.bench/ingest-sqlite', rounds, changes);
    } else {
        const answer = await postgresAnswers(pgUrl);
        if (!answer.ok) {
            const line = `*** SKIP postgres: no Postgres answers at ${pgUrl} (${answer.error}); set TEST_POSTGRES_URL. THE POSTGRES BENCHMARK DID NOT RUN. ***`;
            console.log(line);
            summary.push({ engine, line: `Postgres does not answer at ${pgUrl}`, status: 'SKIP' });
            continue;
        }
        r = await benchIngestPostgres(records, '.bench/ingest-postgres', rounds, pgUrl, changes);
    }
    console.log(`median of ${r.rounds.length} rounds:`);
    const rows = [
        [LABEL[engine].daemon, `${Math.round(r.daemonRate).toLocaleString('en')} rec/s`, `${r.daemonSeconds.toFixed(2)} s`],
        [LABEL[engine].ceiling, `${Math.round(r.ceilingRate).toLocaleString('en')} rec/s`, `${r.ceilingSeconds.toFixed(2)} s`],
        ['ratio daemon / ceiling', `${r.ratio.toFixed(3)}`, `target ≥ ${RATIO_TARGET}`],
        ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, `target < ${RSS_TARGET_MB} MB`],
        ['CPU ms per 1,000 records', `${r.daemonCpuMsPer1000.toFixed(1)} / ${r.ceilingCpuMsPer1000.toFixed(1)}`, `daemon (all threads${engine === 'postgres' ? ' + backends' : ''}) / ceiling (client${engine === 'postgres' ? ' + backend' : ''}), medians`],
    ];
    if (r.daemonOffRate !== undefined && r.changeLogCost !== undefined) {
        rows.push(['daemon, changes.enabled false', `${Math.round(r.daemonOffRate).toLocaleString('en')} rec/s`, 'median of the rounds'], [
            'change log cost (on/off time)',
            `${r.changeLogCost.toFixed(3)}`,
            'median of the rounds; target ≤ 1.15',
        ], ['change log cost (on/off CPU)', `${r.changeLogCpuCost!.toFixed(3)}`, 'median of the rounds']);
    }
    for (const [a, b, c] of rows) console.log(`  ${a!.padEnd(32)} ${b!.padStart(16)}   ${c}`);
    mkdirSync('.bench', { recursive: true });
    writeFileSync(`.bench/ingest-${engine}.json`, `${JSON.stringify({ ...r, machine, at: new Date().toISOString() }, null, 2)}\n`);
    const ok = r.ratio >= RATIO_TARGET && r.peakRssMb < RSS_TARGET_MB;
    summary.push({
        engine,
        line: `ratio ${r.ratio.toFixed(3)} (≥ ${RATIO_TARGET}), peak RSS ${r.peakRssMb.toFixed(0)} MB (< ${RSS_TARGET_MB}), daemon ${Math.round(r.daemonRate).toLocaleString('en')} rec/s`,
        status: ok ? 'PASS' : 'FAIL',
    });
}

console.log('\nsummary:');
for (const s of summary) console.log(`  ${s.engine.padEnd(9)} ${s.status}  ${s.line}`);
// A skipped engine is loud but not a miss: the machine has no Postgres to measure.
const ok = summary.every((s) => s.status !== 'FAIL');
const skipped = summary.filter((s) => s.status === 'SKIP').map((s) => s.engine);
console.log(ok ? `PASS${skipped.length > 0 ? ` (SKIPPED: ${skipped.join(', ')})` : ''}` : 'FAIL');
process.exit(ok ? 0 : 1);
