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
import { signNotice } from '../../src/notify/notice.js';
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
const NOTICE_FIELDS = ['providerConfigKey', 'connectionId', 'model', 'variant', 'upserted', 'deleted', 'cursor', 'committedAt'];

type PageEvent = DaemonEventMap['pageCommitted'][0];

/**
 * A daemon on a fresh database with the notifier's internal knobs set (the shared harness does not
 * pass daemon options), plus what the tests look at: logs, committed pages, dropped notices.
 */
interface Rig {
    daemon: Daemon;
    logs: LogLine[];
    pages: PageEvent[];
    dropped: DaemonEventMap['notifyDropped'][0][];
    reader: MirrorReader;
    sendSync(key: TestKey): Promise<void>;
    waitIdle(): Promise<void>;
    rows(key: TestKey): Promise<MirrorRow[]>;
    state(key: TestKey): Promise<SyncStateRow | undefined>;
    close(): Promise<void>;
}

async function startRig(engine: EngineName, fake: FakeNango, notify: Record<string, unknown>, tuning: NotifierTuning = FAST): Promise<Rig> {
    const dir = makeTempDir();
    const database: TestDatabase = await createTestDatabase(engine, dir);
    const logs: LogLine[] = [];
    const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
    const config = testConfig(fake.baseUrl!, database.database, { notify, sync: { pageSize: PAGE_SIZE } });
    const events = createDaemonEvents();
    const pages: PageEvent[] = [];
    const dropped: Rig['dropped'] = [];
    events.on('pageCommitted', (p) => pages.push(p));
    events.on('notifyDropped', (d) => dropped.push(d));
    const daemon = await startDaemon(config, { logger, events, notify: tuning });
    const reader = database.reader();
    const queries = mirrorQueries(reader);
    return {
        daemon,
        logs,
        pages,
        dropped,
        reader,
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

        test('one notice per page, signed over the raw body, with the page counts, cursor and commit time', async () => {
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY });
            try {
                const k = testKey('Contact', 'conn-notify-pages');
                seed(fake, k, 25);
                await rig.sendSync(k);
                await rig.waitIdle();
                await waitFor(() => app.received.length === 3, 5000, 'three notices');
                assert.equal(app.badSignatures, 0);
                const notices = app.received.map((r) => r.notice);
                assert.deepEqual(Object.keys(notices[0]!), NOTICE_FIELDS, 'the payload has exactly these fields, in this order');
                assert.deepEqual(
                    notices.map((n) => [n.upserted, n.deleted]),
                    [[10, 0], [10, 0], [5, 0]],
                );
                assert.deepEqual(notices.map((n) => n.cursor), pageCursors(fake, k), 'each notice carries the cursor its page ended on');
                assert.equal(notices[2]!.cursor, (await rig.state(k))?.cursor, 'the last notice carries the stored cursor');
                for (const n of notices) {
                    assert.deepEqual([n.providerConfigKey, n.connectionId, n.model, n.variant], ['hubspot', 'conn-notify-pages', 'Contact', 'base']);
                    assert.match(n.committedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
                }
                assert.deepEqual(
                    notices,
                    rig.pages.map((p) => ({ ...p.key, upserted: p.upserted, deleted: p.deleted, cursor: p.cursor, committedAt: p.committedAt })),
                    'the notices are the committed pages, in commit order',
                );
                for (const r of app.received) assert.equal(r.contentType, 'application/json');

                // Deletes are counted too: 3 deleted and 2 added land in one page.
                fake.trackDelete(fakeKey(k), ['r0', 'r1', 'r2']);
                fake.save(fakeKey(k), [{ id: 'n1' }, { id: 'n2' }]);
                await rig.sendSync(k);
                await rig.waitIdle();
                await waitFor(() => app.received.length === 4 && rig.daemon.notifier?.stats().backlog === 0, 5000, 'the fourth notice, acknowledged');
                const last = app.received[3]!.notice;
                assert.deepEqual([last.upserted, last.deleted], [2, 3]);
                assert.equal(last.cursor, (await rig.state(k))?.cursor);
                assert.equal(rig.daemon.notifier?.stats().delivered, 4);

                // The fake app really checks the signature: a body signed with another key is refused.
                const raw = app.received[0]!.raw;
                const forged = await fetch(app.url, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-nango-mirror-hmac-sha256': signNotice(raw, 'another-key-0123456789') } });
                assert.equal(forged.status, 401);
                assert.equal(app.received.length, 4);
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
                await waitFor(() => app.received.length === 14 && rig.daemon.notifier?.stats().backlog === 0, 10_000, 'all 14 notices, acknowledged');
                assert.equal(app.failed, 6, 'the first six POSTs were refused and retried');
                assert.deepEqual(app.forKey(a.connectionId).map((r) => r.notice.cursor), pageCursors(fake, a), 'key a: every page, in order, once');
                assert.deepEqual(app.forKey(b.connectionId).map((r) => r.notice.cursor), pageCursors(fake, b), 'key b: every page, in order, once');
                assert.ok(app.received.every((r) => r.notice.upserted === 10 && r.notice.deleted === 0));
                assert.equal(app.maxInFlightPerKey, 1, 'a key never has two notices in flight');
                assert.ok(app.maxInFlight >= 2, `different keys are delivered concurrently (max in flight ${app.maxInFlight})`);
                assert.ok(app.maxInFlight <= 4, 'the global concurrency bound holds');
                const stats = rig.daemon.notifier!.stats();
                assert.deepEqual([stats.delivered, stats.failedAttempts, stats.dropped, stats.backlog], [14, 6, 0, 0]);
                assert.equal(rig.logs.filter((l) => l.msg.startsWith('notifications to the app are failing')).length, 1, 'one warn line, not one per failure');
                assert.ok(rig.logs.some((l) => l.msg === 'notifications to the app are delivered again'));
            } finally {
                await rig.close();
                await app.stop();
            }
        });

        test('a dead app (connection refused) neither slows nor stops ingestion; the backlog drops the oldest, counted', async () => {
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
                await waitFor(() => notifier.stats().backlog === 3 && notifier.stats().sending === 0, 5000, 'the backlog to settle at maxBacklog');
                const stats = notifier.stats();
                assert.equal(stats.delivered, 0);
                assert.ok(stats.failedAttempts > 0);
                assert.equal(notifier.dropped, 7, 'ten notices, three kept');
                assert.equal(rig.dropped.reduce((n, d) => n + d.dropped, 0), 7, 'each drop is emitted for the metrics');
                assert.ok(rig.dropped.every((d) => d.key.connectionId === k.connectionId));
                const warns = rig.logs.filter((l) => l.level === 40 && l.msg.startsWith('notification backlog full'));
                assert.equal(warns.length, 1, 'one warn line for the drops, not one per notice');
                const cursors = pageCursors(fake, k);
                assert.deepEqual(notifier.pending().map((b) => (JSON.parse(b) as { cursor: string }).cursor), cursors.slice(-3), 'the newest three are kept');

                // The app comes back on its port: the kept notices arrive, oldest first.
                app = new FakeApp(NOTIFY_KEY);
                await app.start(port);
                await waitFor(() => app!.received.length === 3 && notifier.stats().backlog === 0, 5000, 'the kept notices, acknowledged');
                assert.deepEqual(app.received.map((r) => r.notice.cursor), cursors.slice(-3));
                assert.equal(notifier.stats().backlog, 0);
            } finally {
                await rig.close();
                await app?.stop();
            }
        });

        test('an app that never answers does not hold ingestion or shutdown; undelivered notices are logged as lost', async () => {
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            app.hang = true;
            const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY, maxBacklog: 3, timeoutSeconds: 30 });
            try {
                const k = testKey('Contact', 'conn-notify-hang');
                seed(fake, k, 60);
                await rig.sendSync(k);
                await rig.waitIdle();
                await assertMirrorExact({ fake, rows: (key) => rig.rows(key) }, k);
                await waitFor(() => app.inFlight === 1, 5000, 'the first notice to be in flight');
                const stats = rig.daemon.notifier!.stats();
                assert.equal(stats.sending, 1);
                assert.ok(stats.backlog <= 3 + 1, 'at most maxBacklog waiting plus the one in flight');
                assert.equal(stats.dropped + stats.backlog, 6);
                const t0 = Date.now();
                await rig.daemon.stop();
                const stopMs = Date.now() - t0;
                assert.ok(stopMs < 3000, `stop took ${stopMs} ms`);
                const lost = rig.logs.find((l) => l.msg.startsWith('stopping with undelivered notices'));
                assert.equal(lost?.['undelivered'], stats.backlog);
                assert.equal(app.received.length, 0);
            } finally {
                await rig.close();
                await app.stop();
            }
        });

        if (engine === 'postgres') {
            test('Postgres: NOTIFY on notify.pgChannel with the same payload, in order', async () => {
                const channel = `nm_notify_${randomBytes(4).toString('hex')}`;
                const listener = new pg.Client({ connectionString: (await findPostgres())! });
                await listener.connect();
                const payloads: string[] = [];
                listener.on('notification', (m) => {
                    if (m.channel === channel) payloads.push(m.payload ?? '');
                });
                await listener.query(`LISTEN ${channel}`);
                const app = new FakeApp(NOTIFY_KEY);
                await app.start();
                const rig = await startRig(engine, fake, { url: app.url, signingKey: NOTIFY_KEY, pgChannel: channel });
                try {
                    const k = testKey('Contact', 'conn-notify-pg');
                    seed(fake, k, 25);
                    await rig.sendSync(k);
                    await rig.waitIdle();
                    await waitFor(() => payloads.length === 3 && app.received.length === 3 && rig.daemon.notifier?.stats().pgNotified === 3, 5000, 'three NOTIFYs and three POSTs');
                    assert.deepEqual(payloads, app.received.map((r) => r.raw), 'NOTIFY carries the exact POST body');
                    assert.deepEqual(payloads.map((p) => (JSON.parse(p) as { cursor: string }).cursor), pageCursors(fake, k));
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
                    assert.deepEqual(payloads.map((p) => JSON.parse(p) as unknown), rig.pages.map((p) => ({ ...p.key, upserted: p.upserted, deleted: p.deleted, cursor: p.cursor, committedAt: p.committedAt })));
                    assert.deepEqual(rig.daemon.notifier?.stats().backlog, 0);
                } finally {
                    await rig.close();
                    await listener.end();
                }
            });
        }
    });
}
