/**
 * The change feed with three replicas writing (issue 13): readers following `GET /changes?after=`
 * on the admin listeners of two daemons, while three daemons pull the same mirror page by page,
 * never miss a change and never see one twice, and the log says exactly what Nango served: each
 * version of each record once, with the action its transition calls for.
 *
 * Postgres only: SQLite allows one writing daemon per file (test/e2e/writerLock.test.ts), so there
 * are no replicas whose commits could interleave. On Postgres the log's sequence numbers are drawn
 * under a per-schema transaction lock held to the commit (drizzle/postgres/0009); without it a page
 * that drew smaller numbers could commit after a reader moved past them, and that reader would skip
 * them for good. This test is the proof that it does not happen.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeAction, ChangeRow } from '../../src/storage/store.js';
import { toMicroIso } from '../../src/domain/timestamps.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import type { FakeNango } from '../fakes/fakeNango.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { findPostgres } from '../helpers/engines.js';
import { usePostgresReplicas } from '../helpers/postgresReplicas.js';
import { API_KEY, SIGNING_KEY, assertMirrorExact, fakeKey, mirrorQueries, testKey, waitFor, type TestKey } from '../helpers/harness.js';
import { seedFromEnv, seededRandom, type SeededRandom } from '../helpers/seededRandom.js';

const postgres = await findPostgres();

const CONNECTIONS = 30;
const ROUNDS = 4;
const PAGE_SIZE = 10;
const FEED_LIMIT = 50;

/** One version of one record as the fake served it, and the action the log must give it. */
interface Version {
    round: number;
    action: ChangeAction;
    lastModifiedAt: string;
}

interface Feed {
    changes: ChangeRow[];
    next: number;
    latest: number;
}

/** Each version of one record the fake served, oldest first. */
interface RecordHistory {
    key: TestKey;
    id: string;
    versions: Version[];
}

/** `connection/model/id`: a record across keys. */
const recordName = (connectionId: string, model: string, id: string) => `${connectionId}/${model}/${id}`;

/**
 * Follows the feed on one daemon from `after=0`, long polling, advancing `after` to each answer's
 * `next`, until `stop` aborts it. Every change it was given, in the order given.
 */
function followFeed(adminUrl: string, stop: AbortSignal): { changes: ChangeRow[]; next: () => number; done: Promise<void> } {
    const changes: ChangeRow[] = [];
    let next = 0;
    const done = (async () => {
        while (!stop.aborted) {
            let feed: Feed;
            try {
                const res = await fetch(`${adminUrl}/changes?after=${next}&limit=${FEED_LIMIT}&wait=2`, { signal: stop });
                assert.equal(res.status, 200, `GET /changes?after=${next} on ${adminUrl}`);
                feed = (await res.json()) as Feed;
            } catch (err) {
                if (stop.aborted) return;
                throw err;
            }
            changes.push(...feed.changes);
            next = feed.next;
        }
    })();
    return { changes, next: () => next, done };
}

/**
 * One round of upstream changes on `key`, each record touched at most once: new records, updates of
 * live ones, deletes (batchDelete or trackDelete), and deleted ones saved again. Appends each
 * version the fake now serves to `history`. Returns whether anything changed.
 */
function changeUpstream(fake: FakeNango, key: TestKey, round: number, rng: SeededRandom, history: Map<string, RecordHistory>, nextId: { n: number }): boolean {
    const fk = fakeKey(key);
    const before = fake.records(fk);
    const live = [...before].filter(([, r]) => !r.deleted).map(([id]) => id);
    const dead = [...before].filter(([, r]) => r.deleted).map(([id]) => id);
    const shuffle = (ids: string[]) => ids.map((id) => [rng.next(), id] as const).sort((a, b) => a[0] - b[0]).map(([, id]) => id);
    const touched = new Map<string, ChangeAction>();
    if (round === 0) {
        const count = 12 + rng.int(14);
        const ids = Array.from({ length: count }, () => `r${nextId.n++}`);
        fake.save(fk, ids.map((id) => ({ id, v: round })));
        for (const id of ids) touched.set(id, 'added');
    } else {
        if (rng.next() < 0.25) return false;
        const shuffled = shuffle(live);
        const updates = shuffled.slice(0, 2 + rng.int(7));
        const deletes = shuffled.slice(updates.length, updates.length + 1 + rng.int(3));
        const undeletes = shuffle(dead).slice(0, rng.int(3));
        const added = Array.from({ length: rng.int(5) }, () => `r${nextId.n++}`);
        // Saves first (one fake transaction), then deletes (another): two timestamps in one round.
        fake.save(fk, [...updates, ...undeletes, ...added].map((id) => ({ id, v: round, salt: rng.int(1e9) })));
        if (rng.next() < 0.5) fake.trackDelete(fk, deletes);
        else fake.batchDelete(fk, deletes.map((id) => ({ id })));
        for (const id of updates) touched.set(id, 'updated');
        for (const id of undeletes) touched.set(id, 'undeleted');
        for (const id of added) touched.set(id, 'added');
        for (const id of deletes) touched.set(id, 'deleted');
    }
    const now = fake.records(fk);
    for (const [id, action] of touched) {
        const state = now.get(id)!;
        assert.equal(state.deleted, action === 'deleted', `the fake's state of ${id}`);
        const name = recordName(key.connectionId, key.model, id);
        const record = history.get(name) ?? { key, id, versions: [] };
        record.versions.push({ round, action, lastModifiedAt: toMicroIso(state.lastModifiedAt) });
        history.set(name, record);
    }
    return touched.size > 0;
}

/** What may follow what in one record's log (no sweeps or purges in this test). */
const ALLOWED_AFTER: Record<string, readonly ChangeAction[]> = {
    none: ['added'],
    added: ['updated', 'deleted'],
    updated: ['updated', 'deleted'],
    undeleted: ['updated', 'deleted'],
    deleted: ['undeleted'],
};

describe('[postgres] change feed with replicas: readers miss nothing while three daemons write', { skip: postgres ? false : 'no Postgres' }, () => {
    const replicas = usePostgresReplicas();

    test('rounds of adds, updates, deletes and undeletes pulled by three daemons: each reader got every logged change once, in order, and the log is what Nango served', { timeout: 90_000 }, async () => {
        const { fake, dir, database, reader, daemons } = replicas;
        const rng = seededRandom(seedFromEnv('CHANGE_FEED_SEED'));
        console.log(`  seed ${rng.seed} (CHANGE_FEED_SEED to replay)`);
        const configPath = writeConfig(dir, {
            nango: { host: fake.baseUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
            server: { host: '127.0.0.1', port: 0, adminPort: 0 },
            database: database.database,
            sync: { pageSize: PAGE_SIZE, concurrency: 4, reconcileIntervalSeconds: 0, views: { auto: false }, retry: { attempts: 3, baseDelayMs: 5, failedPullDelayMs: 200 } },
            logLevel: 'info',
        });
        const keys: TestKey[] = [];
        for (let c = 0; c < CONNECTIONS; c++) {
            const connectionId = `conn-${String(c).padStart(2, '0')}`;
            fake.addConnection('hubspot', connectionId);
            for (const model of c % 2 === 0 ? ['Contact'] : ['Contact', 'Deal']) keys.push(testKey(model, connectionId));
        }
        daemons.push(...(await Promise.all([spawnDaemon(configPath), spawnDaemon(configPath), spawnDaemon(configPath)])));

        // Two readers on two daemons' admin listeners, from the start.
        const stop = new AbortController();
        const readers = [followFeed(daemons[0]!.adminUrl, stop.signal), followFeed(daemons[1]!.adminUrl, stop.signal)];

        const history = new Map<string, RecordHistory>();
        const nextId = { n: 0 };
        const q = mirrorQueries(reader);
        for (let round = 0; round < ROUNDS; round++) {
            const changed = keys.filter((key) => changeUpstream(fake, key, round, rng, history, nextId));
            // One or two signed webhooks per changed key, each to a random daemon, all at once.
            const sends = changed.flatMap((key) => Array.from({ length: 1 + rng.int(2) }, () => rng.pick(daemons)).map((d) => [key, d] as const));
            const answers = await Promise.all(sends.map(([key, d]) => postWebhook(`${d.url}/webhooks/nango`, syncSuccessBody(key), SIGNING_KEY)));
            assert.ok(answers.every((a) => a.status === 200), 'every webhook accepted');
            // The round is pulled to the end before the next one changes anything upstream.
            await waitFor(
                async () => {
                    const [pending] = await reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq OR status <> ?', 'ok');
                    return Number(pending?.n) === 0;
                },
                30_000,
                `round ${round} to be pulled to the end`,
            );
            for (const key of changed) await assertMirrorExact({ fake, rows: q.rows }, key);
        }

        // The rounds made every kind of change, and every daemon pulled (commits from three processes interleaved).
        const actions = new Set([...history.values()].flatMap((r) => r.versions.map((v) => v.action)));
        assert.deepEqual([...actions].sort(), ['added', 'deleted', 'undeleted', 'updated'], 'every kind of change was made upstream');
        const pulled = daemons.map((d) => d.logs.filter((l) => l.msg === 'pull finished').length);
        assert.ok(pulled.every((n) => n > 0), `every daemon pulled (${pulled.join(', ')})`);

        const logged = await reader.all<{ seq: number; connection_id: string; model: string; record_id: string; action: ChangeAction; last_modified_at: string }>(
            'SELECT seq, connection_id, model, record_id, action, last_modified_at FROM nango_changes ORDER BY seq',
        );
        const latest = logged.at(-1)!.seq;
        await waitFor(() => readers.every((r) => r.next() === latest), 20_000, `both readers to reach seq ${latest}`);
        stop.abort();
        await Promise.all(readers.map((r) => r.done));

        // 1. Each reader: exactly the log's seqs, each once, strictly increasing; the same rows.
        const loggedSeqs = logged.map((c) => c.seq);
        for (const [i, r] of readers.entries()) {
            const seqs = r.changes.map((c) => c.seq);
            for (let j = 1; j < seqs.length; j++) assert.ok(seqs[j]! > seqs[j - 1]!, `reader ${i}: seq ${seqs[j]} after ${seqs[j - 1]}`);
            const seen = new Set(seqs);
            const missed = loggedSeqs.filter((s) => !seen.has(s));
            assert.deepEqual(missed, [], `reader ${i} (daemon ${i}'s admin listener) skipped ${missed.length} of ${loggedSeqs.length} logged changes (seqs ${missed.slice(0, 12).join(', ')}${missed.length > 12 ? ', …' : ''})`);
            assert.deepEqual(seqs, loggedSeqs, `reader ${i}: the log's seqs, each once`);
            assert.deepEqual(
                r.changes.map((c) => [c.seq, c.connectionId, c.model, c.recordId, c.action, c.lastModifiedAt && toMicroIso(c.lastModifiedAt)]),
                logged.map((c) => [c.seq, c.connection_id, c.model, c.record_id, c.action, c.last_modified_at]),
                `reader ${i}: the log's rows`,
            );
        }

        // 2. Per record, the log against the fake's history.
        const byRecord = new Map<string, typeof logged>();
        for (const c of logged) {
            const name = recordName(c.connection_id, c.model, c.record_id);
            byRecord.set(name, [...(byRecord.get(name) ?? []), c]);
        }
        assert.deepEqual([...byRecord.keys()].filter((name) => !history.has(name)), [], 'no logged record Nango never served');
        for (const [name, { key, id, versions }] of history) {
            const changes = byRecord.get(name) ?? [];
            // A valid sequence of actions: first added, nothing updated while deleted, undeleted only after deleted.
            let previous = 'none';
            for (const c of changes) {
                assert.ok(ALLOWED_AFTER[previous]!.includes(c.action), `${name}: ${c.action} after ${previous} (${changes.map((x) => x.action).join(', ')})`);
                previous = c.action;
            }
            // Every logged version is one the fake served.
            const served = new Set(versions.map((v) => v.lastModifiedAt));
            for (const c of changes) assert.ok(served.has(c.last_modified_at), `${name}: logged version ${c.last_modified_at} was never served`);
            // The last change is the fake's final state.
            const final = fake.records(fakeKey(key)).get(id)!;
            assert.equal(changes.at(-1)?.action === 'deleted', final.deleted, `${name}: last logged action ${changes.at(-1)?.action} vs deleted=${final.deleted}`);
            assert.equal(changes.at(-1)?.last_modified_at, toMicroIso(final.lastModifiedAt), `${name}: last logged version`);
            // Each round is pulled to the end before the next: every version served is logged, once, in order.
            assert.deepEqual(
                changes.map((c) => [c.action, c.last_modified_at]),
                versions.map((v) => [v.action, v.lastModifiedAt]),
                `${name}: the log against the versions served (rounds ${versions.map((v) => v.round).join(', ')})`,
            );
        }
        await Promise.all(daemons.map((d) => d.kill('SIGTERM')));
    });
});
