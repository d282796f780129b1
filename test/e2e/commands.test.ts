import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { API_KEY, SIGNING_KEY, fakeKey, makeTempDir, testKey, waitFor } from '../helpers/harness.js';

// `migrate`, `backup` and `healthcheck` as an operator (or the image's HEALTHCHECK) runs them: real
// CLI processes against a real daemon process.

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, NANGO_MIRROR_DATABASE_URL: '', ...env } }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

const MIRROR_TABLES = ['nango_changes', 'nango_connections', 'nango_mirror_change_log', 'nango_mirror_leases', 'nango_mirror_notify_positions', 'nango_mirror_views', 'nango_records', 'nango_sync_state'];

function tablesOf(path: string): string[] {
    const db = new Database(path, { readonly: true });
    try {
        return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'nango_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    } finally {
        db.close();
    }
}

describe('commands: migrate with only database.*, backup, healthcheck', () => {
    let fake: FakeNango;
    let fakeUrl: string;
    let dir: string;
    before(async () => {
        fake = new FakeNango({ apiKey: API_KEY });
        fakeUrl = await fake.start();
        dir = makeTempDir();
    });
    after(async () => {
        await fake.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    test('`migrate` with a config holding only `database` creates the tables; a bad database key is named', async () => {
        const dbPath = join(dir, 'only-db.db');
        const path = writeConfig(dir, { database: { url: `sqlite:${dbPath}` } }, 'only-db.json');
        const res = await cli(['migrate', '--config', path]);
        assert.equal(res.code, 0, res.stderr);
        assert.deepEqual(tablesOf(dbPath), MIRROR_TABLES);

        // Nango's keys, present and wrong, are not migrate's business.
        const withBadNango = writeConfig(dir, { nango: { apikey: 'typo' }, database: { url: `sqlite:${dbPath}` } }, 'bad-nango.json');
        assert.equal((await cli(['migrate', '--config', withBadNango])).code, 0);

        const badDb = writeConfig(dir, { database: { url: `sqlite:${dbPath}`, shema: 'x' } }, 'bad-db.json');
        const bad = await cli(['migrate', '--config', badDb]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /database\.shema: unknown key; allowed here: url, schema/);
        const badUrl = writeConfig(dir, { database: { url: 'mysql://x' } }, 'bad-url.json');
        const badUrlRes = await cli(['migrate', '--config', badUrl]);
        assert.equal(badUrlRes.code, 2);
        assert.match(badUrlRes.stderr, /database\.url: .*sqlite:<path> or postgres/);
        // A top-level typo is still caught, not silently ignored.
        const typo = writeConfig(dir, { databse: { url: `sqlite:${dbPath}` } }, 'typo.json');
        const typoRes = await cli(['migrate', '--config', typo]);
        assert.equal(typoRes.code, 2);
        assert.match(typoRes.stderr, /databse: unknown key/);
    });

    test('`migrate` without database.url uses $NANGO_MIRROR_DATABASE_URL (the image\'s /data)', async () => {
        const dbPath = join(dir, 'from-env', 'mirror.db');
        const path = writeConfig(dir, {}, 'empty.json');
        const res = await cli(['migrate', '--config', path], { NANGO_MIRROR_DATABASE_URL: `sqlite:${dbPath}` });
        assert.equal(res.code, 0, res.stderr);
        assert.deepEqual(tablesOf(dbPath), MIRROR_TABLES);
    });

    test('`backup` while the daemon pulls and webhooks arrive: an intact, consistent snapshot; an existing file is refused', async () => {
        const dbPath = join(dir, 'live.db');
        const pageSize = 100;
        const perKey = 1500;
        const keys = Array.from({ length: 12 }, (_, i) => testKey('Contact', `conn-${i}`));
        for (const key of keys) {
            fake.addConnection(key.providerConfigKey, key.connectionId);
            fake.saveGenerated(fakeKey(key), perKey, (i) => ({ id: `r${i}`, name: `record ${i}`, pad: 'x'.repeat(200) }));
        }
        // Slow pages until the first backup is written (12 s of pulling at least: a backup is a
        // process of its own, slow to start on a loaded machine), so at least one is taken mid-pull;
        // then quick ones.
        let firstBackupDone = false;
        fake.inject(() => ({ delayMs: firstBackupDone ? 10 : 200 }));
        const path = writeConfig(dir, {
            nango: { host: fakeUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database: { url: `sqlite:${dbPath}` },
            sync: { reconcileIntervalSeconds: 0, pageSize, concurrency: 3, views: { auto: false } },
        }, 'live.json');
        const daemon = await spawnDaemon(path);
        try {
            const sending = (async () => {
                for (const key of keys) {
                    assert.equal((await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)).status, 200);
                    await new Promise((r) => setTimeout(r, 100));
                }
            })();
            await waitFor(() => liveRows(dbPath) > 0, 15_000, 'the first page');
            const snapshots: number[] = [];
            for (let i = 0; i < 4; i++) {
                const file = join(dir, `backup-${i}.db`);
                const res = await cli(['backup', file, '--config', path]);
                assert.equal(res.code, 0, res.stderr);
                firstBackupDone = true;
                snapshots.push(checkSnapshot(file, pageSize, perKey));
            }
            await sending;
            const total = keys.length * perKey;
            assert.ok(snapshots.some((n) => n < total), `some backup taken mid-pull (rows per backup: ${snapshots.join(', ')})`);

            // An existing file is refused and left alone; --force replaces it.
            const existing = join(dir, 'existing.db');
            writeFileSync(existing, 'not yours');
            const refused = await cli(['backup', existing, '--config', path]);
            assert.equal(refused.code, 2);
            assert.match(refused.stderr, /existing\.db exists; pass --force/);
            assert.equal(readFileSync(existing, 'utf8'), 'not yours');
            const forced = await cli(['backup', existing, '--force', '--config', path]);
            assert.equal(forced.code, 0, forced.stderr);
            checkSnapshot(existing, pageSize, perKey);
            assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.partial-')), [], 'no partial copy left behind');
        } finally {
            fake.inject(undefined);
            await daemon.kill('SIGTERM');
        }
    });

    test('`backup` on Postgres points to pg_dump and exits 2', async () => {
        const path = writeConfig(dir, { database: { url: 'postgres://u@127.0.0.1:1/db', schema: 'mirror' } }, 'pg.json');
        const res = await cli(['backup', join(dir, 'pg-backup'), '--config', path]);
        assert.equal(res.code, 2);
        assert.match(res.stderr, /pg_dump .*--schema=mirror/);
        assert.ok(!existsSync(join(dir, 'pg-backup')));
    });

    test('`healthcheck` exits 0 against the running daemon on the configured port, 1 when none listens', async () => {
        const port = await freePort();
        const path = writeConfig(dir, {
            nango: { host: fakeUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
            server: { port, adminPort: 0 },
            database: { url: `sqlite:${join(dir, 'health.db')}` },
            sync: { reconcileIntervalSeconds: 0, views: { auto: false } },
        }, 'health.json');
        // $PORT, which the old HEALTHCHECK read, says nothing to it.
        const daemon = await spawnDaemon(path);
        try {
            const ok = await cli(['healthcheck', '--config', path], { PORT: '1' });
            assert.equal(ok.code, 0, ok.stderr);
        } finally {
            await daemon.kill('SIGTERM');
        }
        const down = await cli(['healthcheck', '--config', path]);
        assert.equal(down.code, 1);
        assert.match(down.stderr, new RegExp(`127\\.0\\.0\\.1:${port}/healthz: ECONNREFUSED`));
    });
});

function liveRows(path: string): number {
    if (!existsSync(path)) return 0;
    const db = new Database(path, { readonly: true });
    try {
        return (db.prepare('SELECT count(*) AS n FROM nango_records').get() as { n: number }).n;
    } catch {
        return 0;
    } finally {
        db.close();
    }
}

/**
 * The backup opens as a SQLite database with the mirror's tables, passes integrity_check, and is
 * one commit's state: every key with rows has its sync state, pages (committed whole, with their
 * cursor) are whole, and each key's cursor is one of its rows'. Returns the row count.
 */
function checkSnapshot(file: string, pageSize: number, perKey: number): number {
    assert.deepEqual(tablesOf(file), MIRROR_TABLES);
    const db = new Database(file, { readonly: true });
    try {
        assert.deepEqual(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
        const perKeyRows = db
            .prepare(
                `SELECT r.connection_id AS conn, count(*) AS n, s.cursor AS cursor,
                        (SELECT count(*) FROM nango_records r2 WHERE r2.connection_id = r.connection_id AND r2.cursor = s.cursor) AS atCursor
                   FROM nango_records r
                   LEFT JOIN nango_sync_state s USING (provider_config_key, connection_id, model, variant)
                  GROUP BY r.provider_config_key, r.connection_id, r.model, r.variant`,
            )
            .all() as { conn: string; n: number; cursor: string | null; atCursor: number }[];
        for (const row of perKeyRows) {
            assert.ok(row.cursor !== null, `${row.conn}: rows without a sync state cursor`);
            assert.ok(row.n % pageSize === 0 || row.n === perKey, `${row.conn}: ${row.n} rows is not whole pages`);
            assert.equal(row.atCursor, 1, `${row.conn}: the cursor is one of the key's rows`);
        }
        return perKeyRows.reduce((a, r) => a + r.n, 0);
    } finally {
        db.close();
    }
}

async function freePort(): Promise<number> {
    const { createServer } = await import('node:net');
    return new Promise((resolve) => {
        const server = createServer();
        server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            const port = typeof address === 'object' && address ? address.port : 0;
            server.close(() => resolve(port));
        });
    });
}
