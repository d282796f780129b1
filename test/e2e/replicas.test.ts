import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig, type DaemonProcess } from '../helpers/daemonProcess.js';
import { findPostgres } from '../helpers/engines.js';
import { usePostgresReplicas } from '../helpers/postgresReplicas.js';
import { API_KEY, SIGNING_KEY, assertMirrorExact, fakeKey, mirrorQueries, testKey, waitFor, type LogLine, type TestKey } from '../helpers/harness.js';

const postgres = await findPostgres();

interface Interval {
    pid: number;
    key: string;
    start: number;
    end: number;
}

/** Every pull each daemon ran, from its own log: [started, finished], or until it was killed. */
function pullIntervals(daemon: DaemonProcess, killedAt?: number): Interval[] {
    const open = new Map<string, number>();
    const out: Interval[] = [];
    const pid = daemon.proc.pid!;
    for (const line of daemon.logs as Array<LogLine & { time: number; key?: string }>) {
        if (!line.key) continue;
        if (line.msg === 'pull started') open.set(line.key, line.time);
        if (line.msg === 'pull finished' && open.has(line.key)) {
            out.push({ pid, key: line.key, start: open.get(line.key)!, end: line.time });
            open.delete(line.key);
        }
    }
    for (const [key, start] of open) out.push({ pid, key, start, end: killedAt ?? Number.POSITIVE_INFINITY });
    return out;
}

describe('[postgres] replicas: three daemons share one mirror', { skip: postgres ? false : 'no Postgres' }, () => {
    const replicas = usePostgresReplicas();

    test('webhooks spread at random, one daemon killed mid-pull: the mirror is exact and no key was pulled by two at once', async () => {
        const { fake, dir, database, reader, daemons } = replicas;
        const configPath = writeConfig(dir, {
            nango: { host: fake.baseUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database: database.database,
            sync: { pageSize: 200, concurrency: 2, reconcileIntervalSeconds: 2, retry: { attempts: 3, baseDelayMs: 5, failedPullDelayMs: 200 } },
            logLevel: 'debug',
        });
        const keys: TestKey[] = [];
        for (const conn of ['c1', 'c2', 'c3']) {
            for (const model of ['Contact', 'Company', 'Deal', 'Ticket']) {
                const key = testKey(model, conn);
                keys.push(key);
                fake.addConnection(key.providerConfigKey, key.connectionId);
                fake.saveGenerated(fakeKey(key), 1200, (i) => ({ id: `${conn}-${model}-${i}`, n: i }));
            }
        }
        // Slow pages, so pulls last long enough to overlap, and a kill lands mid-pull.
        fake.inject(() => ({ delayMs: 15 }));
        const started = Date.now();
        daemons.push(...(await Promise.all([spawnDaemon(configPath), spawnDaemon(configPath), spawnDaemon(configPath)])));
        const pick = () => daemons[Math.floor(Math.random() * daemons.length)]!;
        const send = async (key: TestKey, to = pick()) => {
            const res = await postWebhook(`${to.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY);
            assert.equal(res.status, 200);
        };
        await Promise.all(keys.flatMap((k) => [send(k), send(k), send(k)]));

        // Kill daemon 0 in the middle of one of its pulls.
        const victim = daemons[0]!;
        await waitFor(() => pullIntervals(victim).some((i) => i.end === Number.POSITIVE_INFINITY), 20_000, 'daemon 0 to be mid-pull');
        victim.proc.kill('SIGKILL');
        await victim.exited;
        const killedAt = Date.now();
        const survivors = daemons.slice(1);

        // More changes while one replica is gone, announced to the survivors only.
        for (const key of keys.slice(0, 6)) {
            fake.save(fakeKey(key), [{ id: `${key.connectionId}-${key.model}-new`, n: -1 }]);
            fake.batchDelete(fakeKey(key), [{ id: `${key.connectionId}-${key.model}-3` }]);
            await send(key, survivors[Math.floor(Math.random() * survivors.length)]);
        }
        const q = mirrorQueries(reader);
        await waitFor(
            async () => {
                const pending = await reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq OR status <> ?', 'ok');
                return Number(pending[0]?.n) === 0;
            },
            60_000,
            'every key to be pulled to the end',
        );
        fake.inject(undefined);
        for (const key of keys) await assertMirrorExact({ fake, rows: q.rows }, key);

        // No key was ever pulled by two daemons at once (the killed one held its keys until it died).
        const intervals = [...pullIntervals(victim, killedAt), ...survivors.flatMap((d) => pullIntervals(d))];
        for (const a of intervals) {
            for (const b of intervals) {
                if (a === b || a.key !== b.key || a.pid === b.pid) continue;
                assert.ok(a.end <= b.start || b.end <= a.start, `${a.key} pulled by ${a.pid} and ${b.pid} at once`);
            }
        }
        assert.ok(new Set(intervals.map((i) => i.pid)).size === 3, 'all three daemons pulled');
        if (process.env['DEBUG_REPLICAS']) console.log(intervals.length, 'pulls', [...new Set(intervals.map((i) => i.pid))].map((p) => intervals.filter((i) => i.pid === p).length), 'killed mid:', intervals.filter((i) => i.end === killedAt).map((i) => i.key));

        // The reconcile pass ran once per interval for the group, not once per daemon.
        const elapsed = (Date.now() - started) / 1000;
        const passes = daemons.flatMap((d) => d.logs.filter((l) => /^reconcile pass found/.test(l.msg))).length;
        assert.ok(passes >= 1, 'a reconcile pass ran');
        assert.ok(passes <= elapsed / 1.8 + 2, `${passes} passes in ${elapsed.toFixed(1)} s with a 2 s interval`);
        for (const d of survivors) await d.kill('SIGTERM');
    });
});
