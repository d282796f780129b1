import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createDaemonEvents, type DaemonEventMap } from '../../src/domain/daemonEvents.js';
import { createLogger } from '../../src/lib/logger.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import type { NotifierTuning } from '../../src/notify/notifier.js';
import { signNotice, type Notice } from '../../src/notify/notice.js';
import { FakeApp } from '../fakes/fakeApp.js';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { createTestDatabase, findPostgres, testEngines, type EngineName, type MirrorReader, type TestDatabase } from '../helpers/engines.js';
import {
    API_KEY,
    SIGNING_KEY,
    assertMirrorExact,
    fakeKey,
    makeTempDir,
    mirrorQueries,
    testConfig,
    testKey,
    waitDaemonIdle,
    waitFor,
    type LogLine,
    type MirrorRow,
    type SyncStateRow,
    type TestKey,
} from '../helpers/harness.js';

const engines = await testEngines();
const NOTIFY_KEY = 'notify-signing-key-0123456789abcdef';
/** Fast retries so failing apps recover within milliseconds. */
const FAST: NotifierTuning = { retryBaseDelayMs: 5, retryMaxDelayMs: 40, stopTimeoutMs: 500 };
const PAGE_SIZE = 10;
const NOTICE_FIELDS = ['providerConfigKey', 'connectionId', 'model', 'variant', 'upserted', 'deleted', 'cursor', 'committedAt', 'fromSeq', 'toSeq'];

type PageEvent = DaemonEventMap['pageCommitted'][0];

/**
 * A daemon on a fresh database with the notifier's internal knobs set (the shared harness does not
 * pass daemon options), plus what the tests look at: logs, committed pages, dropped notices.
 */
interface Rig {
    daemon: Daemon;
    logs: LogLine[];
    pages: PageEvent[];
    reader: MirrorReader;
    dir: string;
    database: TestDatabase;
    sendSync(key: TestKey): Promise<void>;
    waitIdle(): Promise<void>;
    rows(key: TestKey): Promise<MirrorRow[]>;
    state(key: TestKey): Promise<SyncStateRow | undefined>;
    close(): Promise<void>;
}

async function startRig(engine: EngineName, fake: FakeNango, notify: Record<string, unknown>, tuning: NotifierTuning = FAST, existing?: { dir: string; database: TestDatabase }): Promise<Rig> {
    const dir = existing?.dir ?? makeTempDir();
    const database: TestDatabase = existing?.database ?? (await createTestDatabase(engine, dir));
    const logs: LogLine[] = [];
    const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    const config = testConfig(fake.baseUrl!, database.database, { notify, sync: { pageSize: PAGE_SIZE } });
    const events = createDaemonEvents();
    const pages: PageEvent[] = [];
    events.on('pageCommitted', (p) => pages.push(p));
    const daemon = await startDaemon(config, { logger, events, notify: tuning });
    const reader = database.reader();
    const queries = mirrorQueries(reader);
    return {
        daemon,
        logs,
        pages,
        reader,
        dir,
        database,
        async sendSync(key) {
            const res = await postWebhook(`${daemon.url}${config.server.webhookPath}`, syncSuccessBody(key), SIGNING_KEY);
            assert.equal(res.status, 200, JSON.stringify(res.json));
        },
        waitIdle: () => waitDaemonIdle(daemon, reader),
        rows: queries.rows,
        state: queries.state,
        async close() {
            await daemon.stop();
            await reader.close();
            await database.drop();
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

/** The cursor each page of a first full read ends on, computed from the fake (Nango's order: updated_at, then uuid). */
function pageCursors(fake: FakeNango, key: TestKey, pageSize = PAGE_SIZE): string[] {
    const recs = [...fake.records(fakeKey(key)).values()].sort((a, b) =>
        a.updatedAtMicros !== b.updatedAtMicros ? (a.updatedAtMicros < b.updatedAtMicros ? -1 : 1) : a.uuid < b.uuid ? -1 : 1,
    );
    const out: string[] = [];
    for (let i = pageSize - 1; i < recs.length; i += pageSize) out.push(recs[i]!.cursor);
    if (recs.length % pageSize !== 0) out.push(recs[recs.length - 1]!.cursor);
    return out;
}

function sum(received: ReadonlyArray<{ notice: Notice }>, field: 'upserted' | 'deleted'): number {
    return received.reduce((n, r) => n + r.notice[field], 0);
}

/** The notices, in the order received, sum up seqs from..to of one key: each once, in order. */
function assertCovers(notices: readonly Notice[], from: number, to: number): void {
    let next = from;
    for (const n of notices) {
        assert.equal(n.fromSeq, next, `notices follow each other: ${JSON.stringify(notices.map((x) => [x.fromSeq, x.toSeq]))}`);
        next = n.toSeq! + 1;
    }
    assert.equal(next, to + 1, 'every change up to the last');
}

function seed(fake: FakeNango, key: TestKey, count: number, prefix = 'r'): void {
    fake.addConnection(key.providerConfigKey, key.connectionId);
    fake.save(fakeKey(key), Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, name: `${prefix} ${i}` })));
}

function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
            const { port } = server.address() as { port: number };
            server.close(() => resolve(port));
        });
    });
}

for (const engine of engines) {
    describe(`[${engine}] notify: signed notices to the app after each committed page`, () => {
        const fake = new FakeNango({ apiKey: API_KEY });
        before(async () => {
            await fake.start();
        });
        after(() => fake.stop());

        test('notices from the change log: signed over the raw body, one per key per batch read, with counts, cursor, commit time and the seqs summed up', async () => {
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY });
            try {
                const k = testKey('Contact', 'conn-notify-pages');
                seed(fake, k, 25);
                await rig.sendSync(k);
                await rig.waitIdle();
                await waitFor(() => sum(app.received, 'upserted') === 25 && rig.daemon.notifier?.stats().backlog === 0, 5000, 'notices for the 25 changes');
                assert.equal(app.badSignatures, 0);
                const notices = app.received.map((r) => r.notice);
                assert.deepEqual(Object.keys(notices[0]!), NOTICE_FIELDS, 'the payload has exactly these fields, in this order');
                assertCovers(notices, 1, 25);
                assert.ok(notices.length <= 3, `one notice per batch read (at most one per page): ${notices.length}`);
                const cursors = pageCursors(fake, k);
                // The log keeps no cursor per page: a notice carries the key's cursor when it is sent.
                for (const n of notices) assert.ok(cursors.includes(n.cursor), 'a cursor the key stored');
                assert.equal(notices.at(-1)!.cursor, (await rig.state(k))?.cursor, 'the last notice carries the stored cursor');
                for (const n of notices) {
                    assert.deepEqual([n.providerConfigKey, n.connectionId, n.model, n.variant, n.deleted], ['hubspot', 'conn-notify-pages', 'Contact', 'base', 0]);
                    assert.match(n.committedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
                    // To the millisecond: the page's event time is the daemon's clock (milliseconds), the
                    // log's Postgres's clock_timestamp() (microseconds), which within the same millisecond
                    // reads later than the event's truncated time though it was taken before.
                    assert.ok(n.committedAt.slice(0, 23) <= rig.pages.at(-1)!.committedAt.slice(0, 23), `the log writes committed_at inside the transaction: ${n.committedAt} after ${rig.pages.at(-1)!.committedAt}`);
                }
                for (const r of app.received) assert.equal(r.contentType, 'application/json');

                // Deletes are counted too: 3 deleted and 2 added land in one page, so in one notice.
                const before = app.received.length;
                fake.trackDelete(fakeKey(k), ['r0', 'r1', 'r2']);
                fake.save(fakeKey(k), [{ id: 'n1' }, { id: 'n2' }]);
                await rig.sendSync(k);
                await rig.waitIdle();
                await waitFor(() => app.received.length === before + 1 && rig.daemon.notifier?.stats().backlog === 0, 5000, 'one more notice, acknowledged');
                const last = app.received.at(-1)!.notice;
                assert.deepEqual([last.upserted, last.deleted, last.fromSeq, last.toSeq], [2, 3, 26, 30]);
                assert.equal(last.cursor, (await rig.state(k))?.cursor);
                assert.equal(rig.daemon.notifier?.stats().delivered, before + 1);

                // The fake app really checks the signature: a body signed with another key is refused.
                const raw = app.received[0]!.raw;
                const forged = await fetch(app.url, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-nango-mirror-hmac-sha256': signNotice(raw, 'another-key-0123456789') } });
                assert.equal(forged.status, 401);
                assert.equal(app.received.length, before + 1);
            } finally {
                await rig.close();
                await app.stop();
            }
        });

        test('in order per key while the app fails the first requests with 500 and is slow; keys go concurrently', async () => {
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            app.failNext(6, 500);
            app.delayMs = 15;
            const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY });
            try {
                const a = testKey('Contact', 'conn-notify-order-a');
                const b = testKey('Deal', 'conn-notify-order-b');
                seed(fake, a, 80, 'a');
                seed(fake, b, 60, 'b');
                await Promise.all([rig.sendSync(a), rig.sendSync(b)]);
                await rig.waitIdle();
                await waitFor(() => sum(app.received, 'upserted') === 140 && rig.daemon.notifier?.stats().backlog === 0, 10_000, 'notices for all 140 changes, acknowledged');
                assert.equal(app.failed, 6, 'the first six POSTs were refused and retried');
                for (const [key, n] of [[a, 80], [b, 60]] as const) {
                    const notices = app.forKey(key.connectionId).map((r) => r.notice);
                    assert.equal(sum(app.forKey(key.connectionId), 'upserted'), n, `${key.connectionId}: every change, once`);
                    for (let i = 1; i < notices.length; i++) assert.ok(notices[i]!.fromSeq! > notices[i - 1]!.toSeq!, `${key.connectionId}: in order`);
                }
                assert.ok(app.received.every((r) => r.notice.deleted === 0));
                assert.equal(app.maxInFlightPerKey, 1, 'a key never has two notices in flight');
                assert.ok(app.maxInFlight >= 2, `different keys are delivered concurrently (max in flight ${app.maxInFlight})`);
                assert.ok(app.maxInFlight <= 4, 'the global concurrency bound holds');
                const stats = rig.daemon.notifier!.stats();
                assert.deepEqual([stats.delivered, stats.failedAttempts, stats.dropped, stats.backlog], [app.received.length, 6, 0, 0]);
                assert.equal(rig.logs.filter((l) => l.msg.startsWith('notifications to the app are failing')).length, 1, 'one warn line, not one per failure');
                assert.ok(rig.logs.some((l) => l.msg === 'notifications to the app are delivered again'));
            } finally {
                await rig.close();
                await app.stop();
            }
        });

        test('a dead app (connection refused) neither slows nor stops ingestion; nothing is dropped: it gets every notice once it is back, and the lag metrics say how far behind it was', async () => {
            const port = await freePort();
            const rig = await startRig(engine, fake, { url: `http://127.0.0.1:${port}/hooks/nango-mirror`, signingKey: NOTIFY_KEY, maxBacklog: 3, timeoutSeconds: 1 });
            let app: FakeApp | undefined;
            try {
                const k = testKey('Contact', 'conn-notify-dead');
                seed(fake, k, 100);
                const t0 = Date.now();
                await rig.sendSync(k);
                await rig.waitIdle();
                const elapsed = Date.now() - t0;
                assert.ok(elapsed < 5000, `ingestion took ${elapsed} ms`);
                await assertMirrorExact({ fake, rows: (key) => rig.rows(key) }, k);
                const finished = rig.logs.find((l) => l.msg === 'pull finished' && l['outcome'] === 'ok');
                assert.equal(finished?.['pages'], 10);

                const notifier = rig.daemon.notifier!;
                await waitFor(() => notifier.stats().failedAttempts > 0, 5000, 'failing POSTs');
                await new Promise((r) => setTimeout(r, 50));
                const behind = await notifier.lag();
                assert.equal(behind?.seq, 100, 'every change is still to deliver');
                assert.ok(behind.seconds > 0, 'the oldest undelivered change has an age');
                const metrics = await (await fetch(`${rig.daemon.adminUrl}/metrics`)).text();
                assert.match(metrics, /^nango_mirror_notify_lag_seq 100$/m);
                const ageLine = /^nango_mirror_notify_lag_seconds (\S+)$/m.exec(metrics);
                assert.ok(ageLine && Number(ageLine[1]) > 0, 'the age gauge is exported');
                assert.doesNotMatch(metrics, /nango_mirror_notify_dropped_total/, 'nothing is dropped any more');
                assert.equal(notifier.stats().delivered, 0);
                assert.equal(notifier.stats().dropped, 0);

                // The app comes back on its port: every page's notice arrives, in order, none dropped.
                app = new FakeApp(NOTIFY_KEY);
                await app.start(port);
                await waitFor(() => sum(app!.received, 'upserted') === 100 && notifier.stats().backlog === 0, 10_000, 'every change, acknowledged');
                assertCovers(app.received.map((r) => r.notice), 1, 100);
                const caughtUp = await notifier.lag();
                assert.deepEqual(caughtUp, { seq: 0, seconds: 0 }, 'the lag falls back to zero');
                assert.match(await (await fetch(`${rig.daemon.adminUrl}/metrics`)).text(), /^nango_mirror_notify_lag_seq 0$/m);
            } finally {
                await rig.close();
                await app?.stop();
            }
        });

        test('an app that never answers does not hold ingestion or shutdown; undelivered changes stay in the log, the position unmoved', async () => {
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            app.hang = true;
            const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY, timeoutSeconds: 30 });
            try {
                const k = testKey('Contact', 'conn-notify-hang');
                seed(fake, k, 60);
                await rig.sendSync(k);
                await rig.waitIdle();
                await assertMirrorExact({ fake, rows: (key) => rig.rows(key) }, k);
                await waitFor(() => app.inFlight === 1, 5000, 'the first notice to be in flight');
                const stats = rig.daemon.notifier!.stats();
                assert.equal(stats.sending, 1);
                const t0 = Date.now();
                await rig.daemon.stop();
                const stopMs = Date.now() - t0;
                assert.ok(stopMs < 3000, `stop took ${stopMs} ms`);
                assert.ok(rig.logs.some((l) => l.msg.startsWith('stopping with undelivered changes')));
                assert.equal(app.received.length, 0);
                const positions = await rig.reader.all<{ seq: number | string }>('SELECT seq FROM nango_mirror_notify_positions');
                assert.ok(positions.every((p) => Number(p.seq) === 0), 'nothing acknowledged, the position did not move');
            } finally {
                await rig.close();
                await app.stop();
            }
        });

        test('changes retention pruned before the app got them: one error line, and delivery resumes after them', async () => {
            const port = await freePort();
            const notify = { url: `http://127.0.0.1:${port}/hooks/nango-mirror`, signingKey: NOTIFY_KEY, timeoutSeconds: 1 };
            const first = await startRig(engine, fake, notify);
            let rig: Rig | undefined;
            let app: FakeApp | undefined;
            try {
                const k = testKey('Contact', 'conn-notify-pruned');
                seed(fake, k, 20);
                await first.sendSync(k);
                await first.waitIdle();
                await first.daemon.stop();
                // While no daemon runs, what retention does (changeLog.ts): a prefix of the log goes, the watermark says how far.
                await first.reader.exec('DELETE FROM nango_changes WHERE seq <= 10; UPDATE nango_mirror_change_log SET pruned_through = 10 WHERE id = 1');
                await first.reader.close();
                app = new FakeApp(NOTIFY_KEY);
                await app.start(port);
                rig = await startRig(engine, fake, notify, FAST, { dir: first.dir, database: first.database });
                await waitFor(() => sum(app!.received, 'upserted') === 10 && rig!.daemon.notifier!.stats().backlog === 0, 10_000, 'the changes left, delivered');
                const errors = rig.logs.filter((l) => l.level === 50 && l.msg.startsWith('changes the app was never told about were pruned'));
                assert.equal(errors.length, 1, 'one error line');
                assert.deepEqual([errors[0]!['position'], errors[0]!['prunedThrough']], [0, 10]);
                assertCovers(app.received.map((r) => r.notice), 11, 20);
            } finally {
                await (rig ?? first).close();
                await app?.stop();
            }
        });

        if (engine === 'postgres') {
            test('Postgres: each page NOTIFYs notify.pgChannel in its own transaction: delivered at the commit (the rows are visible), never for a rolled-back page', async () => {
                const channel = `nm_notify_${randomBytes(4).toString('hex')}`;
                const listener = new pg.Client({ connectionString: (await findPostgres())! });
                await listener.connect();
                const app = new FakeApp(NOTIFY_KEY);
                await app.start();
                const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY, pgChannel: channel });
                const k = testKey('Contact', 'conn-notify-pg');
                /** Per NOTIFY: the payload, and the key's rows another connection saw when it arrived. */
                const seen: Array<{ payload: string; visible: Promise<number> }> = [];
                listener.on('notification', (m) => {
                    if (m.channel !== channel) return;
                    seen.push({
                        payload: m.payload ?? '',
                        visible: rig.reader.all<{ n: string }>('SELECT count(*) AS n FROM nango_records WHERE connection_id = $1', k.connectionId).then((r) => Number(r[0]!.n)),
                    });
                });
                await listener.query(`LISTEN ${channel}`);
                try {
                    // At the commit, each page waits 300 ms (a deferred trigger): a NOTIFY sent before
                    // the commit would arrive while the page's rows are still invisible. A record
                    // named 'poison' fails the commit: that page rolls back.
                    await rig.reader.exec(`
                        CREATE FUNCTION nm_test_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned page'; END IF;
                            IF NEW.id LIKE '%0' THEN PERFORM pg_sleep(0.3); END IF;
                            RETURN NULL;
                        END $$;
                        CREATE CONSTRAINT TRIGGER nm_test_at_commit AFTER INSERT ON nango_records
                            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION nm_test_at_commit();`);
                    seed(fake, k, 25);
                    await rig.sendSync(k);
                    await rig.waitIdle();
                    // Pages that waited while one committed (each commit here takes 300 ms) are written
                    // together, in one transaction: one NOTIFY for them, with their counts and the
                    // cursor the last of them ended on.
                    const upsertedSoFar = () => seen.reduce((n, s) => n + ((JSON.parse(s.payload) as { upserted: number }).upserted), 0);
                    await waitFor(() => upsertedSoFar() === 25 && sum(app.received, 'upserted') === 25, 5000, 'NOTIFYs for the 25 records and the POSTs');
                    const notices = seen.map((n) => JSON.parse(n.payload) as Record<string, unknown>);
                    assert.deepEqual(Object.keys(notices[0]!), NOTICE_FIELDS.slice(0, 8), "today's payload fields");
                    const cursors = pageCursors(fake, k);
                    const ended = notices.map((n) => cursors.indexOf(n['cursor'] as string));
                    assert.ok(ended.every((at, i) => at >= 0 && (i === 0 || at > ended[i - 1]!)), `each NOTIFY carries the cursor a page ended on, in order: ${ended.join(',')}`);
                    assert.equal(ended.at(-1), cursors.length - 1, 'the last NOTIFY carries the last page\'s cursor');
                    assert.deepEqual(notices.map((n) => [n['upserted'], n['deleted']]), ended.map((at, i) => [Math.min(25, (at + 1) * 10) - (i === 0 ? 0 : Math.min(25, (ended[i - 1]! + 1) * 10)), 0]), 'each NOTIFY counts the pages of its transaction');
                    const cumulative = notices.map((_, i) => notices.slice(0, i + 1).reduce((n, x) => n + (x['upserted'] as number), 0));
                    assert.deepEqual(await Promise.all(seen.map((n) => n.visible)), cumulative, "when each NOTIFY arrived, its transaction's rows were committed");

                    // A page whose commit fails: no NOTIFY, no POST, no change logged.
                    fake.save(fakeKey(k), [{ id: 'poison' }]);
                    await rig.sendSync(k);
                    await rig.waitIdle();
                    await waitFor(() => rig.logs.some((l) => JSON.stringify(l).includes('poisoned page')), 5000, 'the page to fail');
                    await new Promise((r) => setTimeout(r, 700));
                    assert.equal(seen.length, notices.length, 'no NOTIFY for the rolled-back page');
                    assert.equal(sum(app.received, 'upserted'), 25, 'no POST for it either');
                    assert.equal((await rig.rows(k)).length, 25);
                } finally {
                    await rig.close();
                    await app.stop();
                    await listener.end();
                }
            });

            test('Postgres: pgChannel alone (no url) only NOTIFYs', async () => {
                const channel = `nm_notify_${randomBytes(4).toString('hex')}`;
                const listener = new pg.Client({ connectionString: (await findPostgres())! });
                await listener.connect();
                const payloads: string[] = [];
                listener.on('notification', (m) => payloads.push(m.payload ?? ''));
                await listener.query(`LISTEN ${channel}`);
                const rig = await startRig(engine, fake, { pgChannel: channel });
                try {
                    const k = testKey('Contact', 'conn-notify-pg-only');
                    seed(fake, k, 15);
                    await rig.sendSync(k);
                    await rig.waitIdle();
                    await waitFor(() => payloads.length === 2, 5000, 'two NOTIFYs');
                    const notices = payloads.map((p) => JSON.parse(p) as { committedAt: string });
                    assert.deepEqual(
                        notices.map(({ committedAt: _a, ...n }) => n),
                        rig.pages.map((p) => ({ ...p.key, upserted: p.upserted, deleted: p.deleted, cursor: p.cursor })),
                    );
                    // Taken inside the transaction, just before the commit: not after the page's event.
                    notices.forEach((n, i) => assert.ok(n.committedAt <= rig.pages[i]!.committedAt));
                    assert.equal(rig.daemon.notifier, undefined, 'no POSTs, nothing to deliver from the log');
                } finally {
                    await rig.close();
                    await listener.end();
                }
            });
        }
    });
}
