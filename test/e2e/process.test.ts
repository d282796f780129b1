import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { openStore } from '../../src/storage/openStore.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { createTestDatabase, findPostgres } from '../helpers/engines.js';
import { API_KEY, SIGNING_KEY, fakeKey, makeTempDir, testKey, waitFor } from '../helpers/harness.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env } }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

describe('process: CLI, shutdown and logs', () => {
    let fake: FakeNango;
    let dir: string;
    before(async () => {
        fake = new FakeNango({ apiKey: API_KEY });
        await fake.start();
        dir = makeTempDir();
    });
    after(async () => {
        await fake.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    test('`migrate` creates the tables, parent folders included; config comes from $NANGO_MIRROR_CONFIG and ${ENV}', async () => {
        const dbPath = join(dir, 'nested', 'deeper', 'mirror.db');
        const path = writeConfig(dir, { nango: { apiKey: '${TEST_API_KEY}', webhookSigningKey: 'k' }, database: { url: `sqlite:${dbPath}` } }, 'migrate.json');
        const res = await cli(['migrate'], { NANGO_MIRROR_CONFIG: path, TEST_API_KEY: 'x' });
        assert.equal(res.code, 0, res.stderr);
        assert.ok(existsSync(dbPath));
        const db = new Database(dbPath, { readonly: true });
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'nango_%' ORDER BY name").all();
        db.close();
        assert.deepEqual(tables, [{ name: 'nango_changes' }, { name: 'nango_connections' }, { name: 'nango_mirror_change_log' }, { name: 'nango_mirror_leases' }, { name: 'nango_mirror_notify_positions' }, { name: 'nango_mirror_views' }, { name: 'nango_records' }, { name: 'nango_sync_state' }]);
    });

    test('`migrate` on Postgres creates the tables in database.schema, and twice is harmless', async (t) => {
        const pgUrl = await findPostgres();
        if (!pgUrl) return t.skip('no Postgres');
        const db = await createTestDatabase('postgres', dir);
        try {
            const path = writeConfig(dir, { nango: { apiKey: 'k', webhookSigningKey: 's' }, database: db.database }, 'pg-migrate.json');
            for (let i = 0; i < 2; i++) {
                const res = await cli(['migrate', '--config', path]);
                assert.equal(res.code, 0, res.stderr);
            }
            const reader = db.reader();
            const tables = await reader.all<{ table_name: string }>(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name LIKE 'nango_%' ORDER BY table_name",
                db.database.schema,
            );
            await reader.close();
            assert.deepEqual(tables.map((r) => r.table_name), ['nango_changes', 'nango_connections', 'nango_mirror_change_log', 'nango_mirror_leases', 'nango_mirror_notify_positions', 'nango_mirror_views', 'nango_records', 'nango_sync_state']);
        } finally {
            await db.drop();
        }
    });

    test('`status --json` through a pipe is complete, however slowly the reader reads', async () => {
        const dbPath = join(dir, 'status-pipe.db');
        const store = await openStore({ url: `sqlite:${dbPath}`, schema: 'public' });
        await store.schema.migrate();
        const keys = Array.from({ length: 3000 }, (_, i) => ({ providerConfigKey: 'hubspot', connectionId: `customer-${i}`, model: 'Contact', variant: 'base' }));
        await store.requests.seedKeys(keys, '2026-11-30T10:00:00.000000Z');
        await store.close();
        const path = writeConfig(dir, { nango: { apiKey: 'k', webhookSigningKey: 's' }, database: { url: `sqlite:${dbPath}` } }, 'status-pipe.json');
        // A pipe whose reader waits before reading (as `| jq` may): the output is far larger than the
        // pipe's buffer, so most of it is still queued in the process when the command is done.
        const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'status', '--json', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.pause();
        await new Promise((r) => setTimeout(r, 1500));
        const chunks: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => chunks.push(c));
        child.stdout.resume();
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        assert.equal(code, 0);
        const output = Buffer.concat(chunks);
        assert.ok(output.length > 256 * 1024, `expected more than a pipe buffer of output, got ${output.length} bytes`);
        assert.equal((JSON.parse(output.toString('utf8')) as unknown[]).length, keys.length);
    });

    test('`status` filters by integration, connection and shown state; a bad state is exit code 2', async () => {
        const dbPath = join(dir, 'status-filter.db');
        const store = await openStore({ url: `sqlite:${dbPath}`, schema: 'public' });
        await store.schema.migrate();
        const at = '2026-11-30T10:00:00.000000Z';
        const keys = [
            { providerConfigKey: 'hubspot', connectionId: 'acme', model: 'Contact', variant: 'base' },
            { providerConfigKey: 'hubspot', connectionId: 'globex', model: 'Contact', variant: 'base' },
            { providerConfigKey: 'salesforce', connectionId: 'acme', model: 'Account', variant: 'base' },
        ];
        await store.requests.seedKeys(keys, at);
        await store.requests.markConnectionGone('hubspot', 'globex', 'deleted', at);
        await store.close();
        const path = writeConfig(dir, { nango: { apiKey: 'k', webhookSigningKey: 's' }, database: { url: `sqlite:${dbPath}` } }, 'status-filter.json');
        const keysOf = async (...args: string[]) => {
            const res = await cli(['status', '--json', '--config', path, ...args]);
            assert.equal(res.code, 0, res.stderr);
            return (JSON.parse(res.stdout) as Array<{ key: string }>).map((r) => r.key);
        };
        assert.deepEqual(await keysOf('--integration', 'hubspot'), ['hubspot/acme/Contact', 'hubspot/globex/Contact']);
        assert.deepEqual(await keysOf('--connection', 'acme'), ['hubspot/acme/Contact', 'salesforce/acme/Account']);
        assert.deepEqual(await keysOf('--status', 'gone'), ['hubspot/globex/Contact']);
        assert.deepEqual(await keysOf('--status', 'pending', '--connection', 'acme', '--integration', 'salesforce'), ['salesforce/acme/Account']);
        const bad = await cli(['status', '--status', 'broken', '--config', path]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /--status: expected one of pending, running, ok, failed, gone, got "broken"/);
    });

    test('SQLite refuses a second daemon on the same file, naming the first and the fix', async () => {
        const path = writeConfig(dir, {
            nango: { host: 'http://127.0.0.1:9', apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database: { url: `sqlite:${join(dir, 'single.db')}` },
        }, 'single.json');
        const first = await spawnDaemon(path);
        try {
            const second = await cli(['serve', '--config', path]);
            assert.equal(second.code, 1);
            assert.match(second.stderr, new RegExp(`Another nango-mirror \\(.*:${first.proc.pid}\\) is using .*single\\.db`));
            assert.match(second.stderr, /use Postgres/);
        } finally {
            await first.kill('SIGTERM');
        }
        // Once the first one has stopped, the file is free again.
        const third = await spawnDaemon(path);
        await third.kill('SIGTERM');
    });

    test('a bad config stops start-up with one message naming every bad key, exit code 2', async () => {
        const path = join(dir, 'bad.json');
        writeFileSync(path, JSON.stringify({ nango: { apiKey: 'k', webhookSigningKey: 's', hots: 'typo' }, sync: { concurrency: 0 } }));
        const res = await cli(['serve', '--config', path]);
        assert.equal(res.code, 2);
        assert.match(res.stderr, /nango\.hots: unknown key; allowed here: host, apiKey/);
        assert.match(res.stderr, /sync\.concurrency/);
        const missing = await cli(['serve', '--config', join(dir, 'missing.json')]);
        assert.equal(missing.code, 2);
        assert.match(missing.stderr, /missing\.json.*config\.example\.json/s);
    });

    test('SIGTERM during a stalled pull exits within 10 s, cleanly, with no secret in the output', async () => {
        const key = testKey('Contact', 'conn-term');
        const secretKey = '22222222-2222-4222-8222-222222222222';
        const fakeWithKey = new FakeNango({ apiKey: secretKey });
        const url = await fakeWithKey.start();
        fakeWithKey.addConnection(key.providerConfigKey, key.connectionId);
        fakeWithKey.saveGenerated(fakeKey(key), 1500, (i) => ({ id: i }));
        fakeWithKey.inject((req) => (req.query.get('cursor') ? { delayMs: 60_000 } : undefined));
        const path = writeConfig(dir, {
            nango: { host: url, apiKey: secretKey, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database: { url: `sqlite:${join(dir, 'term.db')}` },
            sync: { reconcileIntervalSeconds: 0 },
            logLevel: 'debug',
        }, 'term.json');
        const daemon = await spawnDaemon(path);
        try {
            assert.equal((await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)).status, 200);
            await waitFor(() => fakeWithKey.requestCount >= 2, 10_000, 'the second page to stall');
            // The first page is fetched before the second is asked for, but committed in its own time.
            await waitFor(() => countRows(join(dir, 'term.db')) === 1000, 10_000, 'the first page to commit');
            const t0 = Date.now();
            const exit = await daemon.kill('SIGTERM');
            const took = Date.now() - t0;
            assert.equal(exit.code, 0);
            assert.ok(took < 10_000, `exited in ${took} ms`);
            assert.ok(daemon.logs.some((l) => l.msg === 'stopped'));
            const out = daemon.output();
            assert.ok(!out.includes(secretKey), 'the API key never reaches a log');
            assert.ok(!out.includes(SIGNING_KEY), 'nor the signing key');
            // The page in flight rolled back whole: the mirror holds exactly the first page.
            const n = countRows(join(dir, 'term.db'));
            const db = new Database(join(dir, 'term.db'), { readonly: true });
            const state = db.prepare('SELECT status, request_seq, done_seq FROM nango_sync_state').get() as { status: string; request_seq: number; done_seq: number };
            db.close();
            assert.equal(n, 1000);
            assert.equal(state.status, 'pending', 'left pending, so the next start resumes it');
            assert.ok(state.request_seq > state.done_seq);
        } finally {
            daemon.proc.kill('SIGKILL');
            await fakeWithKey.stop();
        }
    });
});

function countRows(path: string): number {
    const db = new Database(path, { readonly: true });
    try {
        return (db.prepare('SELECT count(*) AS n FROM nango_records').get() as { n: number }).n;
    } catch {
        return 0; // not migrated yet
    } finally {
        db.close();
    }
}
