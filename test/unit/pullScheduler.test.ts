import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { dateToMicroIso } from '../../src/domain/timestamps.js';
import type { SyncKey } from '../../src/domain/syncKey.js';
import { openStore } from '../../src/storage/openStore.js';
import type { Store } from '../../src/storage/store.js';
import type { PullOutcome } from '../../src/sync/pullKey.js';
import { createPullScheduler } from '../../src/sync/pullScheduler.js';

/** A pull that reads nothing from Nango but finishes in the store as a real one does; `pulled` gets its connection id. */
async function finishInStore(store: Store, key: SyncKey, pulled: string[]): Promise<PullOutcome> {
    const at = dateToMicroIso(new Date());
    const coveredSeq = await store.pulls.withPull(key, at, async (session) => {
        await session.finish({ requestSeq: session.start.requestSeq, startedAt: at, records: 0, pages: 0, at });
        return session.start.requestSeq;
    });
    pulled.push(key.connectionId);
    return { outcome: 'ok', records: 0, pages: 0, upserted: 0, deleted: 0, coveredSeq: coveredSeq! };
}

// Under a webhook flood the scheduler queues thousands of keys that are also stored as due
// requests. A look at the store while every slot is taken could start nothing: it must not read
// past the queued keys to learn that (it did, once a second, for 100–150 ms of the main thread at
// 20,000 keys). The queued keys must still all be pulled once slots free, and so must the stored
// requests nobody queued (a restart's backlog), found by the looks that follow.
test('a look at the stored requests while every slot is taken reads nothing; the queue and the stored backlog still drain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-'));
    const store = await openStore({ url: `sqlite:${join(dir, 'mirror.db')}`, schema: 'public' });
    try {
        await store.schema.migrate();
        const keys: SyncKey[] = Array.from({ length: 300 }, (_, i) => ({ providerConfigKey: 'hubspot', connectionId: `c-${i}`, model: 'Contact', variant: 'base' }));
        await store.requests.requestPulls(keys, dateToMicroIso(new Date()));
        const limitsRead: number[] = [];
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        const pulled: string[] = [];
        const scheduler = createPullScheduler({
            keys: {
                listDueKeys: (now, limit, options) => {
                    limitsRead.push(limit);
                    return store.keys.listDueKeys(now, limit, options);
                },
            },
            logger: pino({ level: 'silent' }),
            concurrency: 2,
            // The stored requests are a backlog nobody else schedules, however fresh.
            freshRequestMs: 0,
            pull: async (key) => {
                await released;
                return finishInStore(store, key, pulled);
            },
        });
        // 100 of the 300 stored requests are queued (webhooks); the other 200 only stored.
        const outcomes = keys.slice(0, 100).map((key) => scheduler.request(key, 'webhook'));
        for (let i = 0; i < 3; i++) await scheduler.wakeDue();
        assert.deepEqual(limitsRead, [], 'no read while 100 keys are queued for 2 slots');
        release();
        const settled = await Promise.all(outcomes);
        assert.ok(settled.every((o) => o.outcome === 'ok'));
        // The stored backlog: found by the looks each freed slot makes (no poll timer runs here).
        for (let i = 0; i < 200 && pulled.length < 300; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(pulled.length, 300, 'every key pulled: the 100 queued, then the 200 stored');
        assert.equal(new Set(pulled).size, 300, 'each once');
        assert.ok(Math.max(...limitsRead) <= 2 + 2 + 1, `each look reads at most the free slots past those taken, plus one: ${Math.max(...limitsRead)}`);
        await scheduler.stop();
    } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
    }
});

// A webhook flood: each webhook's request is stored, then offered to the scheduler. Past
// `maxQueued` keys held, an offer leaves the key to the looks at the store (a queued key cost
// 1.6 KB of heap: 20,000 webhooks held 32 MB). Every key is still pulled, each once, and the
// scheduler never holds more than the limit.
test('offers past maxQueued are left to the looks at the store: all pulled once, never more held than the limit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scheduler-'));
    const store = await openStore({ url: `sqlite:${join(dir, 'mirror.db')}`, schema: 'public' });
    try {
        await store.schema.migrate();
        const keys: SyncKey[] = Array.from({ length: 400 }, (_, i) => ({ providerConfigKey: 'hubspot', connectionId: `c-${i}`, model: 'Contact', variant: 'base' }));
        const pulled: string[] = [];
        let mostHeld = 0;
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        const scheduler = createPullScheduler({
            keys: store.keys,
            logger: pino({ level: 'silent' }),
            concurrency: 4,
            maxQueued: 50,
            pull: async (key) => {
                await released;
                mostHeld = Math.max(mostHeld, scheduler.activeCount);
                return finishInStore(store, key, pulled);
            },
        });
        // As the webhook route does: stored (fresh: within freshRequestMs), then offered.
        await store.requests.requestPulls(keys, dateToMicroIso(new Date()));
        for (const key of keys) scheduler.offer(key, 'webhook');
        assert.equal(scheduler.activeCount, 50, 'the first 50 held, the rest left to the store');
        // A second offer of a queued key joins it (of a running one it would add one follow-up pull);
        // of a key left to the store, it holds nothing more.
        scheduler.offer(keys[10]!, 'webhook');
        scheduler.offer(keys[399]!, 'webhook');
        assert.equal(scheduler.activeCount, 50);
        release();
        // No poll timer: the looks each freed slot makes find the stored rest, fresh as they are.
        for (let i = 0; i < 500 && pulled.length < 400; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(pulled.length, 400, 'every key pulled');
        assert.equal(new Set(pulled).size, 400, 'each once');
        assert.ok(mostHeld <= 50, `never more than maxQueued held: ${mostHeld}`);
        await scheduler.stop();
    } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
    }
});
