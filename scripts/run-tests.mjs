#!/usr/bin/env node
// Runs every *.test.ts under test/ with node's own test runner (TypeScript through tsx).
// Node 20's --test does not expand globs, so the files are listed here.
//
// Postgres for the tests: $TEST_POSTGRES_URL if set; else 127.0.0.1:5432 (user postgres,
// database test) if it answers; else a throwaway cluster made with initdb/pg_ctl when they are
// on the PATH (stopped and deleted afterwards); else the tests skip Postgres loudly
// (test/helpers/engines.ts), or fail when REQUIRE_POSTGRES is set.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const DEFAULT_PG = process.env.NANGO_MIRROR_DEFAULT_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

function find(dir) {
    return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) return find(path);
        return name.endsWith('.test.ts') ? [path] : [];
    });
}

async function answers(url) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
    } catch {
        return false;
    } finally {
        await client.end().catch(() => undefined);
    }
}

function freePort() {
    return new Promise((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

function onPath(bin) {
    return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** initdb + pg_ctl into a temp folder; as root they run as the `postgres` user, since initdb refuses root. */
async function startThrowawayCluster() {
    const dir = mkdtempSync(join(tmpdir(), 'nango-mirror-pg-'));
    chmodSync(dir, 0o777);
    const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    const run = (args) => execFileSync(asUser[0] ?? args[0], asUser.length ? [...asUser.slice(1), ...args] : args.slice(1), { stdio: 'pipe' });
    const port = await freePort();
    const data = join(dir, 'data');
    run(['initdb', '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    run(['pg_ctl', '-D', data, '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-w', 'start']);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return {
        url,
        stop() {
            try {
                run(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']);
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}

const filter = process.argv.slice(2);
const files = find('test')
    .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
    .sort();
if (files.length === 0) {
    console.error(`No test files match ${filter.join(' ')}`);
    process.exit(1);
}

const env = { ...process.env };
let cluster;
if (!env.TEST_POSTGRES_URL) {
    if (await answers(DEFAULT_PG)) {
        env.TEST_POSTGRES_URL = DEFAULT_PG;
    } else if (onPath('initdb') && onPath('pg_ctl')) {
        try {
            cluster = await startThrowawayCluster();
            env.TEST_POSTGRES_URL = cluster.url;
            console.log(`Postgres at ${DEFAULT_PG} does not answer: using a throwaway cluster at ${cluster.url}`);
        } catch (err) {
            console.warn(`Could not start a throwaway Postgres cluster: ${err.message}`);
            // The tests skip Postgres loudly, or fail under REQUIRE_POSTGRES.
            env.TEST_POSTGRES_URL = DEFAULT_PG;
        }
    }
}

const concurrency = env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env },
);
cluster?.stop();
process.exit(result.status ?? 1);
