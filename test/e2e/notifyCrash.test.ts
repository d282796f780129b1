/**
 * Notices survive a crash (issue 13, item 3): the real CLI is SIGKILLed while it pulls and delivers
 * to a slow app; a restarted daemon delivers the rest from the stored position. Every change is
 * delivered at least once, none is missing, and each key's notices come in seq order (a redelivered
 * batch starts again at the position, so it repeats what the app may already have).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { Notice } from '../../src/notify/notice.js';
import { FakeApp } from '../fakes/fakeApp.js';
import { FakeNango } from '../fakes/fakeNango.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { spawnDaemon, writeConfig, type DaemonProcess } from '../helpers/daemonProcess.js';
import { createTestDatabase, testEngines } from '../helpers/engines.js';
import { API_KEY, SIGNING_KEY, fakeKey, makeTempDir, testConfig, testKey, waitFor } from '../helpers/harness.js';

const engines = await testEngines();
const NOTIFY_KEY = 'notify-signing-key-0123456789abcdef';
const RECORDS = 120;
const PAGE_SIZE = 10;

for (const engine of engines) {
    describe(`[${engine}] notify: SIGKILL between pages, then a restart`, () => {
        test('every change is delivered at least once, none missing, in order per key', { timeout: 90_000 }, async () => {
            const fake = new FakeNango({ apiKey: API_KEY });
            const url = await fake.start();
            const app = new FakeApp(NOTIFY_KEY);
            await app.start();
            // Slower than ingestion: deliveries lag behind the pages when the kill lands.
            app.delayMs = 40;
            const dir = makeTempDir();
            const database = await createTestDatabase(engine, dir);
            const reader = database.reader();
            let daemon: DaemonProcess | undefined;
            try {
                // The harness's config, parsed, is valid CLI config too.
                const configPath = writeConfig(dir, testConfig(url, database.database, { sync: { pageSize: PAGE_SIZE }, notify: { url: app.url, signingKey: NOTIFY_KEY }, logLevel: 'info' }));
                const a = testKey('Contact', 'conn-notify-crash-a');
                const b = testKey('Deal', 'conn-notify-crash-b');
                for (const [k, prefix] of [[a, 'a'], [b, 'b']] as const) {
                    fake.addConnection(k.providerConfigKey, k.connectionId);
                    fake.save(fakeKey(k), Array.from({ length: RECORDS }, (_, i) => ({ id: `${prefix}${i}` })));
                }
                // Each page takes a while, so the kill lands between pages of a pull in progress.
                fake.inject(() => ({ delayMs: 60 }));

                daemon = await spawnDaemon(configPath);
                for (const k of [a, b]) {
                    const res = await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(k), SIGNING_KEY);
                    assert.equal(res.status, 200);
                }
                await waitFor(() => app.received.length >= 3, 20_000, 'a few notices before the kill');
                await daemon.kill('SIGKILL');
                const atKill = app.received.length;
                const logged = async () => Number((await reader.all<{ n: number | string }>('SELECT count(*) AS n FROM nango_changes'))[0]!.n);
                assert.ok((await logged()) < 2 * RECORDS, 'killed while pulling');

                fake.inject(undefined);
                daemon = await spawnDaemon(configPath);
                for (const k of [a, b]) await postWebhook(`${daemon.url}/webhooks/nango`, syncSuccessBody(k), SIGNING_KEY);
                // On Postgres the dead daemon's delivery lease runs out first (10 s).
                await waitFor(async () => (await logged()) === 2 * RECORDS, 30_000, 'the pulls to finish');
                const changes = await reader.all<{ seq: number | string; connection_id: string; action: string }>('SELECT seq, connection_id, action FROM nango_changes ORDER BY seq');
                assert.ok(changes.every((c) => c.action === 'added'), 'one change per record: the resumed pull logged no re-read');
                const delivered = async () => Number((await reader.all<{ seq: number | string }>('SELECT seq FROM nango_mirror_notify_positions'))[0]?.seq ?? 0);
                const latest = Number(changes.at(-1)!.seq);
                await waitFor(async () => (await delivered()) === latest, 30_000, 'the position to reach the last change');
                assert.ok(app.received.length > atKill, 'the restarted daemon delivered');

                for (const k of [a, b]) {
                    const expected = changes.filter((c) => c.connection_id === k.connectionId).map((c) => Number(c.seq));
                    const notices: Notice[] = app.forKey(k.connectionId).map((r) => r.notice);
                    // In order: each notice starts after the previous one, or, once, again at or
                    // before it (the batch the kill interrupted, redelivered from the position).
                    let restarts = 0;
                    for (let i = 1; i < notices.length; i++) if (notices[i]!.fromSeq! <= notices[i - 1]!.toSeq!) restarts++;
                    assert.ok(restarts <= 1, `${k.connectionId}: in order but for one redelivery (${restarts})`);
                    // None missing: the notices' seq ranges cover every change of the key.
                    const covered = new Set<number>();
                    for (const n of notices) for (const s of expected) if (s >= n.fromSeq! && s <= n.toSeq!) covered.add(s);
                    assert.equal(covered.size, expected.length, `${k.connectionId}: every change delivered at least once`);
                    // Counts: at least every record, and any excess is a redelivered batch.
                    const upserted = notices.reduce((n, x) => n + x.upserted, 0);
                    assert.ok(upserted >= RECORDS, `${k.connectionId}: ${upserted} upserts notified`);
                }
                assert.equal(app.badSignatures, 0);
            } finally {
                await daemon?.kill('SIGTERM');
                await reader.close();
                await database.drop();
                rmSync(dir, { recursive: true, force: true });
                await app.stop();
                await fake.stop();
            }
        });
    });
}
