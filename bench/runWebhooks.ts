// `npm run bench -- webhooks [--webhooks N] [--keys K] [--senders S]`: the webhook flood, one table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchWebhookFlood } from './webhooks.js';

const P99_TARGET_MS = 50;
const RSS_TARGET_MB = 300;

export async function runFloodBench(): Promise<number> {
    const { values } = parseArgs({
        args: process.argv.slice(3),
        options: {
            webhooks: { type: 'string', default: '20000' },
            keys: { type: 'string', default: '1000' },
            senders: { type: 'string', default: '64' },
        },
    });
    const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
    console.log(`webhook flood: ${values.webhooks} signed webhooks over ${values.keys} keys from ${values.senders} concurrent senders, SQLite — ${machine}`);
    const r = await benchWebhookFlood({ webhooks: Number(values.webhooks), keys: Number(values.keys), senders: Number(values.senders), workDir: '.bench/webhooks' });
    const rows: Array<[string, string, string]> = [
        ['webhooks/s', Math.round(r.perSecond).toLocaleString('en'), `${r.seconds.toFixed(2)} s for all`],
        ['ack latency p50', `${r.p50Ms.toFixed(1)} ms`, ''],
        ['ack latency p99', `${r.p99Ms.toFixed(1)} ms`, `target < ${P99_TARGET_MS} ms`],
        ['ack latency max', `${r.maxMs.toFixed(1)} ms`, ''],
        ['answers not 2xx', String(r.non2xx), 'target 0'],
        ['GET /records requests', r.nangoRequests.toLocaleString('en'), 'fewer than webhooks: requests for a key that is queued join its pull'],
        ['keys exact at the end', `${r.exactKeys} / ${r.keys}`, `target ${r.keys}`],
        ['daemon peak RSS', `${r.peakRssMb.toFixed(0)} MB`, `target < ${RSS_TARGET_MB} MB`],
        ['CPU per webhook', `${r.cpuMsPerWebhook.daemon.toFixed(3)} ms`, `daemon; fake Nango ${r.cpuMsPerWebhook.fakeNango.toFixed(3)} ms, senders ${r.cpuMsPerWebhook.senders.toFixed(3)} ms`],
    ];
    for (const [a, b, c] of rows) console.log(`  ${a.padEnd(24)} ${b.padStart(12)}   ${c}`);
    mkdirSync('.bench', { recursive: true });
    writeFileSync('.bench/webhooks.json', `${JSON.stringify({ ...r, machine, at: new Date().toISOString() }, null, 2)}\n`);
    const ok = r.non2xx === 0 && r.p99Ms < P99_TARGET_MS && r.peakRssMb < RSS_TARGET_MB && r.exactKeys === r.keys;
    console.log(ok ? 'PASS' : 'FAIL');
    return ok ? 0 : 1;
}
