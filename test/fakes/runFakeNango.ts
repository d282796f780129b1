/**
 * Runs a FakeNango as a child process, so benchmarks can give it its own core.
 *
 *   node --import tsx test/fakes/runFakeNango.ts [--port 0] [--host 127.0.0.1]
 *        [--api-key <key>] [--max-log 1000]
 *   (or use spawnFakeNango() from ./fakeNangoProcess.ts)
 *
 * Control protocol: JSON lines. When listening it prints one line on stdout:
 *   {"ready":"http://127.0.0.1:41234","apiKey":"…"}
 * then reads commands on stdin, one JSON object per line:
 *   {"id":1,"cmd":"<name>","args":{…}}
 * and answers each on stdout with the same id:
 *   {"id":1,"ok":true,"result":…}   or   {"id":1,"ok":false,"error":"message"}
 * bigint values (timestamps in µs) are sent as decimal strings.
 *
 * Commands (`key` is {providerConfigKey, connectionId, model, variant?}):
 *   addConnection {providerConfigKey, connectionId}       deleteConnection {providerConfigKey, connectionId}
 *   saveGenerated {key, count, recordBytes?=1000, start?=0, version?=0, batchSize?=1000}
 *                 → records ids start..start+count-1 (numeric), see generatedRecords.ts
 *   saveGeneratedAll {keys, count, recordBytes?, start?, version?, batchSize?} → the same for each key (one sync run each)
 *   save {key, records}    batchDelete {key, objects}    trackDelete {key, ids}    prune {key, ids?}
 *   emptyCache {key}       rateLimit429 {times, retryAfterSeconds?}    failNext {n, fault}
 *   rateLimit429Share {share, retryAfterSeconds?=0, seed?=1} → that share of GET /records answers are 429 until clearFaults
 *   setSyncs {providerConfigKey, syncs: [{name, models}]}
 *   setClockOffset {ms}    Nango's clock against this machine's from now on (flag --clock-offset-ms sets it at start)
 *   clearFaults            stats → {requestCount, rssBytes, heapUsedBytes}
 *   requests {last?=100} → the last logged requests      stop → answers, closes, exits 0
 * Closing stdin also stops the process.
 */
import { createInterface } from 'node:readline';

import { FakeNango, type FakeSync, type Fault } from './fakeNango.js';
import { DEFAULT_FAKE_API_KEY } from './fakeNangoProcess.js';
import type { RecordInput, StoreKey } from './fakeRecordStore.js';
import { generatedRecord } from './generatedRecords.js';
import { seededRandom } from '../helpers/seededRandom.js';

function flag(name: string): string | undefined {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
}

function writeLine(value: unknown): Promise<void> {
    const line = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return new Promise((resolve) => process.stdout.write(`${line}\n`, () => resolve()));
}

type Args = Record<string, unknown>;

/** Nango's wall clock against this machine's, in ms: `--clock-offset-ms`, then `setClockOffset`. */
let clockOffsetMs = Number(flag('clock-offset-ms') ?? 0);

function saveGenerated(fake: FakeNango, key: StoreKey, a: Args) {
    const start = Number(a['start'] ?? 0);
    const bytes = Number(a['recordBytes'] ?? 1000);
    const version = Number(a['version'] ?? 0);
    return fake.saveGenerated(key, Number(a['count']), (i) => generatedRecord(start + i, bytes, version), Number(a['batchSize'] ?? 1000));
}

function run(fake: FakeNango, cmd: string, a: Args): unknown {
    const key = a['key'] as StoreKey;
    switch (cmd) {
        case 'addConnection':
            fake.addConnection(String(a['providerConfigKey']), String(a['connectionId']));
            return null;
        case 'deleteConnection':
            return fake.deleteConnection(String(a['providerConfigKey']), String(a['connectionId']));
        case 'saveGenerated':
            return saveGenerated(fake, key, a);
        case 'saveGeneratedAll':
            for (const k of a['keys'] as StoreKey[]) saveGenerated(fake, k, a);
            return null;
        case 'save':
            return fake.save(key, a['records'] as RecordInput[]);
        case 'batchDelete':
            return fake.batchDelete(key, a['objects'] as RecordInput[]);
        case 'trackDelete':
            return fake.trackDelete(key, a['ids'] as Array<string | number>);
        case 'prune':
            return fake.prune(key, a['ids'] as Array<string | number> | undefined);
        case 'emptyCache':
            return fake.emptyCache(key);
        case 'rateLimit429':
            fake.rateLimit429(Number(a['times']), Number(a['retryAfterSeconds'] ?? 0));
            return null;
        case 'rateLimit429Share': {
            const random = seededRandom(Number(a['seed'] ?? 1));
            fake.rateLimit429Share(Number(a['share']), Number(a['retryAfterSeconds'] ?? 0), () => random.next());
            return null;
        }
        case 'setClockOffset':
            clockOffsetMs = Number(a['ms']);
            return null;
        case 'failNext':
            fake.failNext(Number(a['n']), a['fault'] as Fault);
            return null;
        case 'setSyncs':
            fake.setSyncs(String(a['providerConfigKey']), a['syncs'] as FakeSync[]);
            return null;
        case 'clearFaults':
            fake.clearFaults();
            return null;
        case 'stats': {
            const mem = process.memoryUsage();
            return { requestCount: fake.requestCount, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed };
        }
        case 'requests':
            return fake.requests.slice(-Number(a['last'] ?? 100));
        default:
            throw new Error(`unknown command: ${cmd}`);
    }
}

async function main(): Promise<void> {
    const apiKey = flag('api-key') ?? process.env['FAKE_NANGO_API_KEY'] ?? DEFAULT_FAKE_API_KEY;
    const fake = new FakeNango({ apiKey, maxLog: Number(flag('max-log') ?? 1000), wallClockMs: () => Date.now() + clockOffsetMs });
    const baseUrl = await fake.start(Number(flag('port') ?? 0), flag('host') ?? '127.0.0.1');
    await writeLine({ ready: baseUrl, apiKey });

    const shutdown = async (): Promise<never> => {
        await fake.stop();
        process.exit(0);
    };
    const lines = createInterface({ input: process.stdin });
    lines.on('close', () => void shutdown());
    for await (const line of lines) {
        if (line.trim() === '') continue;
        let id: unknown = null;
        try {
            const msg = JSON.parse(line) as { id?: unknown; cmd?: unknown; args?: Args };
            id = msg.id ?? null;
            if (msg.cmd === 'stop') {
                await writeLine({ id, ok: true, result: null });
                await shutdown();
            }
            const result = run(fake, String(msg.cmd), msg.args ?? {});
            await writeLine({ id, ok: true, result });
        } catch (err) {
            await writeLine({ id, ok: false, error: err instanceof Error ? err.message : String(err) });
        }
    }
}

main().catch((err: unknown) => {
    process.stderr.write(`runFakeNango: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
});
