import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import type { ChangeRow } from '../../src/storage/store.js';
import { writeConfig } from '../helpers/daemonProcess.js';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';

// GET /changes on the admin listener and `nango-mirror changes`: the change log (issue 13 item 2),
// read by offset, with long polling, filters, 410 past retention, the admin token, and a real CLI
// process following the log while the daemon writes.
const engines = await testEngines();
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

interface Feed {
    changes: ChangeRow[];
    next: number;
    latest: number;
}

async function getChanges(h: Harness, query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Feed & { error?: { code: string; prunedThrough?: number } } }> {
    const res = await fetch(`${h.adminUrl}/changes${query}`, { headers });
    return { status: res.status, body: (await res.json()) as Feed & { error?: { code: string; prunedThrough?: number } } };
}

for (const engine of engines) {
    describe(`change feed: ${engine}`, () => {
        test('read by offset: what a pull added, then a long poll answered by the next commit; filters narrow it', async () => {
            const h = await startHarness({ engine });
            try {
                const key = testKey('Contact', 'conn-feed');
                h.fake.save(fakeKey(key), [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
                await h.sendSync(key);
                await h.waitIdle();
                const first = await getChanges(h, '?after=0');
                assert.equal(first.status, 200);
                // In the page's order (Nango's cursor order), one each.
                assert.deepEqual(first.body.changes.map((c) => [c.recordId, c.action]).sort(), [['a', 'added'], ['b', 'added'], ['c', 'added']]);
                assert.deepEqual(first.body.changes.map((c) => c.seq), [...first.body.changes.map((c) => c.seq)].sort((x, y) => x - y));
                assert.equal(first.body.next, first.body.changes[2]!.seq);
                assert.equal(first.body.latest, first.body.next);
                assert.deepEqual(first.body.changes[0]!, { ...first.body.changes[0]!, providerConfigKey: 'hubspot', connectionId: 'conn-feed', model: 'Contact', variant: 'base' });

                // Nothing newer: an empty answer at once without wait.
                const empty = await getChanges(h, `?after=${first.body.next}`);
                assert.deepEqual([empty.body.changes, empty.body.next], [[], first.body.next]);

                // A long poll (up to 30 s) answered by the commit of the next pull.
                const t0 = performance.now();
                const waiting = getChanges(h, `?after=${first.body.next}&wait=30`);
                await new Promise((resolve) => setTimeout(resolve, 200));
                h.fake.save(fakeKey(key), [{ id: 'b', name: 'changed' }]);
                await h.sendSync(key);
                const woken = await waiting;
                assert.ok(performance.now() - t0 < 25_000, 'answered by the commit, not the timeout');
                assert.deepEqual(woken.body.changes.map((c) => [c.recordId, c.action]), [['b', 'updated']]);

                // Filters and limit.
                assert.equal((await getChanges(h, '?after=0&integration=other')).body.changes.length, 0);
                assert.equal((await getChanges(h, '?after=0&connection=conn-feed&model=Contact')).body.changes.length, 4);
                assert.equal((await getChanges(h, '?after=0&model=Deal')).body.changes.length, 0);
                const all = (await getChanges(h, '?after=0')).body.changes;
                const two = await getChanges(h, '?after=0&limit=2');
                assert.deepEqual(two.body.changes, all.slice(0, 2));
                assert.deepEqual((await getChanges(h, `?after=${two.body.next}&limit=2`)).body.changes, all.slice(2, 4));
            } finally {
                await h.close();
            }
        });

        test('bad parameters are a 400 invalid_query naming the parameter; nothing is read', async () => {
            const h = await startHarness({ engine });
            try {
                for (const [query, name] of [['?after=-1', 'after'], ['?after=x', 'after'], ['?limit=0', 'limit'], ['?limit=10001', 'limit'], ['?wait=51', 'wait'], ['?model=contact', 'model'], ['?after=1&after=2', 'after']] as const) {
                    const res = await fetch(`${h.adminUrl}/changes${query}`);
                    const body = (await res.json()) as { error: { code: string; message: string } };
                    assert.equal(res.status, 400, query);
                    assert.equal(body.error.code, 'invalid_query', query);
                    assert.match(body.error.message, new RegExp(`^${name}:`), query);
                }
            } finally {
                await h.close();
            }
        });

        test('an offset retention removed is a 410 offset_expired with prunedThrough; reading from it works', async () => {
            const h = await startHarness({ engine });
            try {
                const key = testKey('Contact', 'conn-old');
                h.fake.save(fakeKey(key), Array.from({ length: 5 }, (_, i) => ({ id: `r-${i}` })));
                await h.sendSync(key);
                await h.waitIdle();
                // Retention at a restart keeps 2 rows of the 5.
                await h.restart({ changes: { maxRows: 2 } });
                await waitFor(async () => (await getChanges(h, '?after=0')).status === 410, 10_000, 'the log to be pruned to 2 rows');
                const gone = await getChanges(h, '?after=0');
                assert.equal(gone.body.error?.code, 'offset_expired');
                const prunedThrough = gone.body.error.prunedThrough!;
                const kept = await getChanges(h, `?after=${prunedThrough}`);
                assert.equal(kept.status, 200);
                assert.equal(kept.body.changes.length, 2, 'the newest 2 of the 5 added');
                assert.equal(kept.body.changes[1]!.seq, kept.body.latest);
            } finally {
                await h.close();
            }
        });

        test('with admin.token set, /changes needs it', async () => {
            const h = await startHarness({ engine, config: { admin: { token: 'feed-token-0123456789abcdef' } } });
            try {
                assert.equal((await fetch(`${h.adminUrl}/changes`)).status, 401);
                const ok = await fetch(`${h.adminUrl}/changes`, { headers: { authorization: 'Bearer feed-token-0123456789abcdef' } });
                assert.equal(ok.status, 200);
            } finally {
                await h.close();
            }
        });

        test('`nango-mirror changes --follow` (a real process) prints each change as it commits, as JSON lines, and stops on SIGINT', async () => {
            const h = await startHarness({ engine });
            const key = testKey('Deal', 'conn-cli');
            const configPath = writeConfig(h.dir, { database: h.config.database }, 'cli.json');
            const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'changes', '--follow', '--after', '0', '--model', 'Deal', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
            const lines: Array<ChangeRow & { seenAt: number }> = [];
            createInterface({ input: child.stdout }).on('line', (line) => lines.push({ ...(JSON.parse(line) as ChangeRow), seenAt: Date.now() }));
            let stderr = '';
            child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
            const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
            try {
                h.fake.save(fakeKey(key), [{ id: 'd1' }]);
                await h.sendSync(key);
                await waitFor(() => lines.length === 1, 15_000, `the CLI to print the first change (stderr: ${stderr})`);
                h.fake.trackDelete(fakeKey(key), ['d1']);
                await h.sendSync(key);
                await waitFor(() => lines.length === 2, 15_000, 'the CLI to print the delete');
                assert.deepEqual(lines.map((l) => [l.recordId, l.action]), [['d1', 'added'], ['d1', 'deleted']]);
                assert.ok(lines[1]!.seq > lines[0]!.seq);
                // How soon it showed, for the record (not a pass/fail figure on a shared machine).
                console.log(`  changes --follow printed a change ${lines[1]!.seenAt - Date.parse(lines[1]!.committedAt)} ms after its commit (${engine})`);
                child.kill('SIGINT');
                assert.equal(await exited, 0, stderr);
            } finally {
                child.kill('SIGKILL');
                await h.close();
            }
        });
    });
}
