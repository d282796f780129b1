// `npm run bench -- webhooks [--webhooks 20000] [--keys 1000] [--senders 64] [--engine sqlite|postgres|all]`:
// the webhook flood (issue 5 item 1), one table per engine. Targets: every answer 2xx, ack p99
// under 50 ms, peak RSS under 300 MB, every key exact at the end.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_NAME, intOption, machine, parseEngines, printRows, readOptions, runOnEngines, writeResult } from './benchCommand.js';
import { benchWebhookFlood } from './webhooks.js';

const P99_TARGET_MS = 50;
const RSS_TARGET_MB = 300;

export async function runFloodBench(argv: string[]): Promise<number> {
    const options = readOptions(() => {
        const { values } = parseArgs({
            args: argv,
            options: {
                webhooks: { type: 'string', default: '20000' },
                keys: { type: 'string', default: '1000' },
                senders: { type: 'string', default: '64' },
                engine: { type: 'string', default: 'sqlite' },
            },
        });
        return {
            webhooks: intOption('webhooks', values.webhooks),
            keys: intOption('keys', values.keys),
            senders: intOption('senders', values.senders),
            engines: parseEngines(values.engine),
        };
    });
    return runOnEngines(options.engines, async (engine) => {
        console.log(`\nwebhook flood: ${options.webhooks.toLocaleString('en')} signed webhooks over ${options.keys.toLocaleString('en')} keys from ${options.senders} concurrent senders, ${ENGINE_NAME[engine]} — ${machine()}`);
        const r = await benchWebhookFlood({ ...options, engine, workDir: join('.bench', `webhooks-${engine}`) });
        const ms = (n: number) => `${n.toFixed(1)} ms`;
        printRows([
            ['webhooks/s', Math.round(r.perSecond).toLocaleString('en'), `${r.seconds.toFixed(2)} s for all`],
            ['ack latency p50', ms(r.p50Ms), ''],
            ['ack latency p99', ms(r.p99Ms), `target < ${P99_TARGET_MS} ms`],
            ['ack latency max', ms(r.maxMs), ''],
            ['answers not 2xx', String(r.non2xx), 'target 0'],
            ['GET /records requests', r.nangoRequests.toLocaleString('en'), 'fewer than webhooks: requests for a key already queued join its pull'],
            ['keys exact at the end', `${r.exactKeys} / ${r.keys}`, `target ${r.keys}`],
            ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, `target < ${RSS_TARGET_MB} MB`],
            ['CPU per webhook', `${r.cpuMsPerWebhook.daemon.toFixed(3)} ms`, `daemon (all threads); fake Nango ${r.cpuMsPerWebhook.fakeNango.toFixed(3)} ms, senders ${r.cpuMsPerWebhook.senders.toFixed(3)} ms`],
        ]);
        console.log(`  ack p99 by tenth of the webhooks (ms): ${r.p99ByTenthMs.map((v) => v.toFixed(1)).join(', ')}`);
        writeResult(`webhooks-${engine}`, r);
        return {
            ok: r.non2xx === 0 && r.p99Ms < P99_TARGET_MS && r.peakRssMb < RSS_TARGET_MB && r.exactKeys === r.keys,
            line: `p99 ${ms(r.p99Ms)} (< ${P99_TARGET_MS}), ${r.non2xx} not 2xx, ${r.exactKeys}/${r.keys} keys exact, peak RSS ${r.peakRssMb.toFixed(0)} MB (< ${RSS_TARGET_MB}), ${Math.round(r.perSecond).toLocaleString('en')} webhooks/s`,
        };
    });
}
