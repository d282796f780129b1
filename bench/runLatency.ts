// `npm run bench -- latency [--webhooks 300] [--interval-ms 100] [--engine sqlite|postgres|all]`:
// change latency on an idle daemon (issue 14 item 3) and its idle RSS. Targets: SQLite p50 ≤ 5 ms
// and p99 ≤ 20 ms from the webhook's 2xx to the change readable (Postgres reported); idle RSS of
// a freshly started daemon < 80 MB on both engines.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_NAME, intOption, machine, parseEngines, printRows, readOptions, runOnEngines, writeResult } from './benchCommand.js';
import { benchLatency } from './latency.js';

const P50_TARGET_MS = 5;
const P99_TARGET_MS = 20;
const IDLE_RSS_TARGET_MB = 80;

export async function runLatencyBench(argv: string[]): Promise<number> {
    const options = readOptions(() => {
        const { values } = parseArgs({
            args: argv,
            options: {
                webhooks: { type: 'string', default: '300' },
                'interval-ms': { type: 'string', default: '100' },
                engine: { type: 'string', default: 'all' },
            },
        });
        return { webhooks: intOption('webhooks', values.webhooks), intervalMs: intOption('interval-ms', values['interval-ms'], 0), engines: parseEngines(values.engine) };
    });
    return runOnEngines(options.engines, async (engine) => {
        console.log(`\nchange latency: ${options.webhooks} webhooks, one changed record each, ${options.intervalMs} ms apart, ${ENGINE_NAME[engine]} — ${machine()}`);
        const r = await benchLatency({ ...options, engine, workDir: join('.bench', `latency-${engine}`) });
        const ms = (n: number) => `${n.toFixed(1)} ms`;
        const gated = engine === 'sqlite';
        printRows([
            ['ack → readable p50', ms(r.visible.p50), gated ? `target ≤ ${P50_TARGET_MS} ms` : 'reported'],
            ['ack → readable p90', ms(r.visible.p90), ''],
            ['ack → readable p99', ms(r.visible.p99), gated ? `target ≤ ${P99_TARGET_MS} ms` : 'reported'],
            ['ack → readable max', ms(r.visible.max), ''],
            ['webhook → ack p50 / p99', `${ms(r.ack.p50)} / ${ms(r.ack.p99)}`, ''],
            ['Nango requests per webhook', r.nangoRequestsPerWebhook.toFixed(2), ''],
            ['daemon CPU per webhook', ms(r.cpuMsPerWebhook), 'all threads'],
            ['idle RSS, freshly started', `${r.idleRssMb.fresh.toFixed(1)} MB`, `target < ${IDLE_RSS_TARGET_MB} MB`],
            ['idle RSS, after the run', `${r.idleRssMb.afterRun.toFixed(1)} MB`, 'once its worker threads have exited'],
            ['2xx → readable, worker exited', `${ms(r.afterWorkerExit.p50)} / ${ms(r.afterWorkerExit.max)}`, `p50 / max of ${r.afterWorkerExit.count}, each after the page worker exited (sync.pageWorkerIdleSeconds, 5 s here): reported`],
        ]);
        writeResult(`latency-${engine}`, r);
        const latencyOk = !gated || (r.visible.p50 <= P50_TARGET_MS && r.visible.p99 <= P99_TARGET_MS);
        return {
            ok: latencyOk && r.idleRssMb.fresh < IDLE_RSS_TARGET_MB,
            line: `ack → readable p50 ${ms(r.visible.p50)}, p99 ${ms(r.visible.p99)}${gated ? ` (≤ ${P50_TARGET_MS}, ≤ ${P99_TARGET_MS})` : ' (reported)'}, idle RSS ${r.idleRssMb.fresh.toFixed(1)} MB (< ${IDLE_RSS_TARGET_MB})`,
        };
    });
}
