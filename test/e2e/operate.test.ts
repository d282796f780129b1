import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { writeConfig } from '../helpers/daemonProcess.js';
import { testEngines } from '../helpers/engines.js';
import { assertMirrorExact, fakeKey, startHarness, testKey, type Harness } from '../helpers/harness.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const TOKEN = 'admin-token-0123456789abcdef';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
        const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args]);
        return { code: 0, ...r };
    } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
}

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] operating the mirror: admin API`, () => {
        let h: Harness;
        const admin = (path: string, init: RequestInit = {}, token = TOKEN) =>
            fetch(`${h.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
        before(async () => {
            h = await startHarness({ engine, config: { admin: { token: TOKEN } } });
        });
        after(() => h.close());

        test('a wrong or missing token is 401, and nothing is requested', async () => {
            assert.equal((await admin('/admin/keys', {}, 'wrong-token-0123456789')).status, 401);
            const none = await fetch(`${h.adminUrl}/admin/keys`);
            assert.equal(none.status, 401);
            assert.equal(((await none.json()) as any).error.code, 'unauthorized');
            const bad = await admin('/admin/sync', { method: 'POST', body: JSON.stringify({ providerConfigKey: 'p', connectionId: 'c', model: 'lowercase' }) });
            assert.equal(bad.status, 400);
            assert.equal(((await bad.json()) as any).error.code, 'invalid_request');
            assert.equal(await h.stateCount(), 0);
        });

        test('POST /admin/sync with wait answers once the mirror has what Nango had at the request (read-after-write)', async () => {
            const key = testKey('Contact', 'conn-admin');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'w1', name: 'written through Nango' }]);
            const res = await admin('/admin/sync', { method: 'POST', body: JSON.stringify({ providerConfigKey: 'hubspot', connectionId: 'conn-admin', model: 'Contact', wait: true }) });
            assert.equal(res.status, 200);
            const body = (await res.json()) as any;
            assert.equal(body.status, 'synced');
            assert.equal(body.key.liveRows, 1);
            // No waiting in the test: the row is there the moment the answer is.
            assert.equal((await h.row(key, 'w1'))?.id, 'w1');
            const listed = (await (await admin('/admin/keys')).json()) as any;
            assert.deepEqual(listed.keys.map((k: any) => [k.connectionId, k.model, k.status, k.liveRows]), [['conn-admin', 'Contact', 'ok', 1]]);
            assert.deepEqual(listed.paging, { page: 1, perPage: 100, total: 1, pages: 1 });
            // Paged like the status page, filters and all; a bad parameter is a 400 with its name.
            assert.deepEqual(((await (await admin('/admin/keys?integration=other')).json()) as any).keys, []);
            const bad = await admin('/admin/keys?per_page=0');
            assert.equal(bad.status, 400);
            assert.equal(((await bad.json()) as any).error.code, 'invalid_query');
        });

        test('reset + sweep deletes rows that vanished upstream after an emptyCache (soft mode keeps them as deleted)', async () => {
            const key = testKey('Deal', 'conn-sweep');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'keep' }, { id: 'vanish-1' }, { id: 'vanish-2' }]);
            await h.sendSync(key);
            await h.waitIdle();
            // Nango reset with emptyCache: everything reappears as ADDED, vanished rows are never reported deleted.
            h.fake.emptyCache(fakeKey(key));
            h.fake.save(fakeKey(key), [{ id: 'keep', v: 2 }]);
            const plain = await admin('/admin/sync', { method: 'POST', body: JSON.stringify({ providerConfigKey: 'hubspot', connectionId: 'conn-sweep', model: 'Deal', wait: true }) });
            assert.equal(plain.status, 200);
            assert.equal((await h.row(key, 'vanish-1'))?.deleted_at, null, 'a plain pull cannot see the vanished rows');
            const swept = await admin('/admin/sync', { method: 'POST', body: JSON.stringify({ providerConfigKey: 'hubspot', connectionId: 'conn-sweep', model: 'Deal', reset: true, sweep: true, wait: true }) });
            assert.equal(swept.status, 200);
            assert.notEqual((await h.row(key, 'vanish-1'))?.deleted_at, null);
            assert.notEqual((await h.row(key, 'vanish-2'))?.deleted_at, null);
            assert.equal((await h.row(key, 'keep'))?.deleted_at, null);
            assert.equal(JSON.parse((await h.row(key, 'keep'))!.data).v, 2);
            assert.ok(h.logs.some((l) => /^sweep after a full read/.test(l.msg) && l['swept'] === 2));
        });

        test('a failing pull answers with the error instead of hanging', async () => {
            const key = testKey('Ticket', 'conn-admin-fail');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.inject((req) => (req.headers['connection-id'] === 'conn-admin-fail' ? { status: 503, body: { error: { code: 'server_error' } } } : undefined));
            try {
                const res = await admin('/admin/sync', { method: 'POST', body: JSON.stringify({ providerConfigKey: 'hubspot', connectionId: 'conn-admin-fail', model: 'Ticket', wait: true }) });
                assert.equal(res.status, 502);
                const body = (await res.json()) as any;
                assert.equal(body.error.code, 'pull_failed');
                assert.match(body.error.message, /503|server_error/);
            } finally {
                h.fake.inject(undefined);
            }
        });
    });

    describe(`[${engine}] operating the mirror: CLI`, () => {
        let h: Harness;
        let configPath: string;
        before(async () => {
            h = await startHarness({ engine });
            configPath = writeConfig(h.dir, h.config, 'cli.json');
        });
        after(() => h.close());

        test('status --json and sync --wait work while the daemon runs, through the database', async () => {
            const key = testKey('Contact', 'conn-cli');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'c1' }, { id: 'c2' }]);
            const synced = await cli(['sync', 'hubspot', 'conn-cli', 'Contact', '--wait', '--config', configPath]);
            assert.equal(synced.code, 0, synced.stdout + synced.stderr);
            // SQLite: the daemon holds the file and pulls it. Postgres: whoever is free pulls it, maybe this command.
            assert.match(synced.stdout, /is current|Pulled /);
            await assertMirrorExact(h, key);
            const status = await cli(['status', '--json', '--config', configPath]);
            assert.equal(status.code, 0, status.stderr);
            const rows = JSON.parse(status.stdout) as any[];
            const row = rows.find((r) => r.connectionId === 'conn-cli');
            assert.equal(row.status, 'ok');
            assert.equal(row.liveRows, 2);
            assert.equal(typeof row.cursorAgeSeconds, 'number');
            assert.equal(row.consecutiveFailures, 0);
            const table = await cli(['status', '--config', configPath]);
            assert.match(table.stdout, /^KEY\s+STATUS\s+NANGO\s+CURSOR AGE/m);
            assert.match(table.stdout, /hubspot\/conn-cli\/Contact\s+ok\s+-\s/);
        });

        test('sync and resync --sweep work with no daemon running: the command pulls itself', async () => {
            const key = testKey('Company', 'conn-cli-alone');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'a' }, { id: 'b' }]);
            await h.daemon.stop();
            const pulled = await cli(['sync', 'hubspot', 'conn-cli-alone', 'Company', '--config', configPath]);
            assert.equal(pulled.code, 0, pulled.stdout + pulled.stderr);
            assert.match(pulled.stdout, /Pulled .* 2 records/);
            h.fake.emptyCache(fakeKey(key));
            h.fake.save(fakeKey(key), [{ id: 'a' }]);
            const swept = await cli(['resync', 'hubspot', 'conn-cli-alone', 'Company', '--sweep', '--wait', '--config', configPath]);
            assert.equal(swept.code, 0, swept.stdout + swept.stderr);
            assert.notEqual((await h.row(key, 'b'))?.deleted_at, null);
            assert.equal((await h.row(key, 'a'))?.deleted_at, null);
            const bad = await cli(['sync', 'hubspot', '--config', configPath]);
            assert.equal(bad.code, 2);
            await h.restart();
        });
    });
}
