/**
 * Issue 12, item 1: the SQLite writer lock is held by the kernel for the daemon's process, so it
 * dies with it. The daemon runs with `setsid` in a process group of its own, under a parent that
 * never reaps (`sh` that backgrounds it, then `exec`s `sleep`): SIGKILLing the daemon's group
 * leaves a zombie whose pid still answers kill(pid, 0) — what a lease plus a pid probe mistook
 * for a live holder. A new daemon started within 100 ms, the zombie still unreaped, must start.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { createTestDatabase } from '../helpers/engines.js';
import { API_KEY, SIGNING_KEY, assertMirrorExact, fakeKey, makeTempDir, mirrorQueries, testKey, waitFor } from '../helpers/harness.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const run = promisify(execFile);
const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', CLI, ...args]).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
const RESTARTS = Number(process.env['WRITER_LOCK_RESTARTS'] ?? 20);

interface UnreapedDaemon {
    /** The daemon's pid, also its process group's id. */
    pid: number;
    /** The wrapper, by then `sleep`: the daemon's parent, which never waits for it. */
    parent: ChildProcess;
    url: string;
}

/** /proc/<pid>/stat's state letter ('Z' for a zombie), or undefined once the pid is gone. */
function procState(pid: number): string | undefined {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
        return undefined;
    }
}

/** SIGKILL to a process group that may be gone already. */
function killGroup(pgid: number): void {
    try {
        process.kill(-pgid, 'SIGKILL');
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
}

async function spawnUnreaped(configPath: string): Promise<UnreapedDaemon> {
    const parent = spawn('sh', ['-c', 'setsid "$0" "$@" & echo "pid $!" >&2; exec sleep 600', process.execPath, '--import', 'tsx', CLI, 'serve', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let raw = '';
    let pid: number | undefined;
    const url = await new Promise<string>((resolve, reject) => {
        const done = (err?: Error) => {
            clearTimeout(timer);
            clearInterval(poll);
            if (!err) return;
            // Leave nothing behind: the daemon's group (if it still runs), then the wrapper (which reaps nothing).
            if (pid !== undefined) killGroup(pid);
            parent.kill('SIGKILL');
            reject(err);
        };
        const timer = setTimeout(() => done(new Error(`daemon did not start in 20 s:\n${raw}`)), 20_000);
        // A daemon that refused to start (or died) is a zombie before it ran: its parent never reaps.
        const poll = setInterval(() => {
            if (pid !== undefined && procState(pid) === 'Z') done(new Error(`daemon exited before it started:\n${raw}`));
        }, 20);
        const read = (chunk: Buffer) => {
            raw += chunk.toString();
            pid ??= Number(/^pid (\d+)$/m.exec(raw)?.[1] ?? Number.NaN) || undefined;
            const running = raw.split('\n').find((line) => line.includes('"nango-mirror is running"'));
            if (running) {
                done();
                resolve(`http://127.0.0.1:${String((JSON.parse(running) as { port: number }).port)}`);
            }
        };
        parent.stdout?.on('data', read);
        parent.stderr?.on('data', read);
    });
    assert.ok(pid, `the wrapper printed the daemon's pid:\n${raw}`);
    return { pid, parent, url };
}

describe('[sqlite] writer lock: held by the kernel, gone with the process', () => {
    test(`${RESTARTS} times: SIGKILL the daemon's process group, start again within 100 ms with the killed daemon an unreaped zombie: it starts, the mirror ends exact, and sync then finds no daemon`, { timeout: 240_000 }, async () => {
        const fake = new FakeNango({ apiKey: API_KEY });
        const url = await fake.start();
        const dir = makeTempDir();
        const database = await createTestDatabase('sqlite', dir);
        const reader = database.reader();
        const zombieParents: ChildProcess[] = [];
        let daemon: UnreapedDaemon | undefined;
        try {
            const configPath = writeConfig(dir, {
                nango: { host: url, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
                server: { host: '127.0.0.1', port: 0, adminPort: 0 },
                database: database.database,
                sync: { reconcileIntervalSeconds: 0, retry: { attempts: 3, baseDelayMs: 5 } },
            });
            const key = testKey('Contact', 'conn-lock');
            fake.addConnection(key.providerConfigKey, key.connectionId);
            daemon = await spawnUnreaped(configPath);
            for (let i = 0; i < RESTARTS; i++) {
                const killed: UnreapedDaemon = daemon;
                killGroup(killed.pid);
                const killedAt = Date.now();
                await waitFor(() => procState(killed.pid) === 'Z', 2_000, `daemon ${i + 1} to be a zombie`);
                const next = spawnUnreaped(configPath);
                // What matters is checked below: the killed daemon is still an unreaped zombie when
                // its successor runs. The launch itself is immediate (under 100 ms on a quiet
                // machine); the bound is loose because a loaded CI machine delays the test's own spawn.
                assert.ok(Date.now() - killedAt < 2000, `restart ${i + 1} began ${Date.now() - killedAt} ms after the kill`);
                daemon = await next;
                assert.equal(procState(killed.pid), 'Z', `restart ${i + 1}: the killed daemon was still unreaped when its successor ran`);
                // The zombie's parent goes; init reaps the zombie.
                killed.parent.kill('SIGKILL');
                zombieParents.push(killed.parent);
            }
            fake.saveGenerated(fakeKey(key), 50, (n) => ({ id: `r-${n}`, n }));
            assert.equal((await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)).status, 200);
            const q = mirrorQueries(reader);
            await waitFor(async () => (await q.rows(key)).length === 50, 15_000, 'the records to be mirrored');
            await assertMirrorExact({ rows: q.rows, fake }, key);

            // `sync` tells a running daemon from none by the same lock: with the last daemon killed
            // and still a zombie, nobody holds the file, so the command pulls the key itself.
            fake.saveGenerated(fakeKey(key), 10, (n) => ({ id: `s-${n}`, n }));
            const last: UnreapedDaemon = daemon;
            killGroup(last.pid);
            await waitFor(() => procState(last.pid) === 'Z', 2_000, 'the last daemon to be a zombie');
            const synced = await cli(['sync', key.providerConfigKey, key.connectionId, key.model, '--config', configPath]);
            assert.equal(synced.code, 0, synced.stdout + synced.stderr);
            assert.match(synced.stdout, /^Pulled .*: 10 records/m);
            assert.equal(procState(last.pid), 'Z', 'the killed daemon was still unreaped while `sync` ran');
            await assertMirrorExact({ rows: q.rows, fake }, key);
        } finally {
            if (daemon) {
                killGroup(daemon.pid);
                daemon.parent.kill('SIGKILL');
            }
            for (const p of zombieParents) p.kill('SIGKILL');
            await reader.close();
            await database.drop();
            await fake.stop();
            rmSync(dir, { recursive: true, force: true });
        }
    });

    test('a second live daemon on the same file is refused at once, naming the first', { timeout: 60_000 }, async () => {
        const fake = new FakeNango({ apiKey: API_KEY });
        const url = await fake.start();
        const dir = makeTempDir();
        const database = await createTestDatabase('sqlite', dir);
        const first = await (async () => {
            const configPath = writeConfig(dir, {
                nango: { host: url, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
                server: { host: '127.0.0.1', port: 0, adminPort: 0 },
                database: database.database,
                sync: { reconcileIntervalSeconds: 0 },
            });
            return { configPath, daemon: await spawnDaemon(configPath) };
        })();
        try {
            await assert.rejects(spawnDaemon(first.configPath), (err: Error) => {
                assert.match(err.message, new RegExp(`Another nango-mirror \\([^)]+:${first.daemon.proc.pid}\\) is using .*single writer`));
                return true;
            });
            // And `sync` leaves the key to the live daemon that holds the file.
            const key = testKey('Contact', 'conn-live');
            fake.addConnection(key.providerConfigKey, key.connectionId);
            const synced = await cli(['sync', key.providerConfigKey, key.connectionId, key.model, '--config', first.configPath]);
            assert.equal(synced.code, 0, synced.stdout + synced.stderr);
            assert.match(synced.stdout, /the daemon that holds this SQLite file will pull it/);
        } finally {
            await first.daemon.kill('SIGTERM');
            await database.drop();
            await fake.stop();
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
