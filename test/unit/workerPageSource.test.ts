import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { createRateLimitGate } from '../../src/nango/rateLimitGate.js';
import { createPuller } from '../../src/sync/createPuller.js';
import { createWorkerPageSource } from '../../src/sync/workerPageSource.js';
import { parseConfig } from '../../src/config/load.js';
import type { PageSource } from '../../src/sync/pageSource.js';
import { FakeNango } from '../fakes/fakeNango.js';
import { waitFor } from '../helpers/harness.js';

// The page worker (a thread with its own V8 heap) runs only while pulls need it: it starts with the
// first pull, exits once idle for `idleStopMs`, and the next pull starts another, which still
// honours a 429 wait its predecessor met.

const API_KEY = '00000000-0000-4000-8000-00000000fa4e';
const KEY = { providerConfigKey: 'hubspot', connectionId: 'c1', model: 'Contact', variant: 'base' };

async function withSource(idleStopMs: number, run: (source: PageSource, fake: FakeNango, gate: ReturnType<typeof createRateLimitGate>) => Promise<void>): Promise<void> {
    const fake = new FakeNango({ apiKey: API_KEY, maxLog: 100 });
    const host = await fake.start();
    fake.addConnection(KEY.providerConfigKey, KEY.connectionId);
    fake.save(KEY, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    const gate = createRateLimitGate();
    const source = createWorkerPageSource({
        host,
        apiKey: API_KEY,
        timeoutMs: 5000,
        retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 },
        logger: pino({ level: 'silent' }),
        gate,
        idleStopMs,
    });
    try {
        await run(source, fake, gate);
    } finally {
        await source.close();
        await fake.stop();
    }
}

async function pullAll(source: PageSource): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of source.pages(KEY, null, 2)) ids.push(...page.rows.map((r) => r.id));
    // Nango orders a page by its cursor (last modified, then an internal id), not by record id.
    return ids.sort();
}

test('the worker starts with the first pull, exits once idle, and the next pull starts another', async () => {
    await withSource(150, async (source) => {
        assert.equal(source.running, false, 'no worker before any pull');
        assert.deepEqual(await pullAll(source), ['1', '2', '3']);
        assert.equal(source.running, true, 'the worker stays right after a pull');
        await waitFor(() => !source.running, 5000, 'the idle worker exits');
        assert.deepEqual(await pullAll(source), ['1', '2', '3'], 'a pull after the stop starts a new worker');
        assert.equal(source.running, true);
    });
});

test('a worker that is pulling is not stopped, however long the pull', async () => {
    await withSource(50, async (source) => {
        const pages = source.pages(KEY, null, 1)[Symbol.asyncIterator]();
        assert.equal((await pages.next()).done, false);
        // Longer than idleStopMs, with the pull still open.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(source.running, true);
        let more = 0;
        for (let next = await pages.next(); !next.done; next = await pages.next()) more += next.value.pages ?? 1;
        assert.equal(more, 2, 'the pull finishes on the same worker (its two pages queued meanwhile come out together)');
    });
});

test('a new worker waits out a 429 wait still in force from before it started', async () => {
    await withSource(50, async (source, fake, gate) => {
        await pullAll(source);
        await waitFor(() => !source.running, 5000, 'the idle worker exits');
        const before = fake.requestCount;
        const closedAt = Date.now();
        gate.closeFor(1500);
        const pulled = pullAll(source);
        await new Promise((resolve) => setTimeout(resolve, 700));
        assert.equal(fake.requestCount, before, 'no request while the gate is closed');
        await pulled;
        assert.ok(Date.now() - closedAt >= 1400, 'the pull ended after the gate opened');
        assert.ok(fake.requestCount > before);
    });
});

test("createPuller gives the worker sync.pageWorkerIdleSeconds, and the default keeps it 10 minutes", async () => {
    assert.equal(parseConfig({ nango: { host: 'http://127.0.0.1:1', apiKey: API_KEY, webhookSigningKey: 'k' } }).sync.pageWorkerIdleSeconds, 600);
    const fake = new FakeNango({ apiKey: API_KEY, maxLog: 100 });
    const host = await fake.start();
    fake.addConnection(KEY.providerConfigKey, KEY.connectionId);
    fake.save(KEY, [{ id: 1 }]);
    const puller = createPuller({
        nango: { host, apiKey: API_KEY },
        sync: { requestTimeoutSeconds: 5, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10, failedPullDelayMs: 10, failedPullMaxDelayMs: 10 }, pageSize: 10, deletes: 'soft', pageWorkerIdleSeconds: 1 },
        sessions: undefined as never,
        logger: pino({ level: 'silent' }),
    });
    try {
        assert.deepEqual(await pullAll(puller.pages), ['1']);
        assert.equal(puller.pages.running, true);
        await waitFor(() => !puller.pages.running, 5000, 'the worker to exit after 1 s idle');
    } finally {
        await puller.close();
        await fake.stop();
    }
});

test('pages that arrive while the consumer writes come out together, in order, counted; the worker keeps going past its window', async () => {
    await withSource(60_000, async (source, fake) => {
        fake.save(KEY, Array.from({ length: 40 }, (_, i) => ({ id: 100 + i })));
        const seen: Array<{ ids: string[]; pages: number; nextCursor: string | null }> = [];
        for await (const page of source.pages(KEY, null, 2)) {
            seen.push({ ids: page.rows.map((r) => r.id), pages: page.pages ?? 1, nextCursor: page.nextCursor });
            // A slow write: the worker fills its window (3 pages) meanwhile.
            await new Promise((resolve) => setTimeout(resolve, 60));
        }
        const ids = seen.flatMap((s) => s.ids);
        assert.equal(ids.length, 43, 'every record once');
        assert.equal(new Set(ids).size, 43);
        assert.equal(seen.reduce((n, s) => n + s.pages, 0), 22, 'every page of Nango counted once (43 records, 2 a page)');
        assert.ok(seen.some((s) => s.pages > 1), `queued pages were merged: ${seen.map((s) => s.pages).join(',')}`);
        assert.ok(seen.every((s) => s.ids.length === 2 * s.pages || s.nextCursor === null), 'a merged page holds whole pages');
        assert.equal(seen.at(-1)!.nextCursor, null);
    });
});

test('an empty page that still names a next cursor is never merged into the page before it: it ends the pull, even behind a slow write', async () => {
    const meta = (c: string) => `{"first_seen_at":"2026-04-14T18:46:03Z","last_modified_at":"2026-04-14T18:46:03Z","last_action":"ADDED","deleted_at":null,"pruned_at":null,"cursor":"${c}"}`;
    const bodies: Record<string, string> = {
        '': `{"records":[{"id":"1","_nango_metadata":${meta('k1')}}],"next_cursor":"c2"}`,
        c2: `{"records":[{"id":"2","_nango_metadata":${meta('k2')}}],"next_cursor":"c3"}`,
        c3: '{"records":[],"next_cursor":"c4"}',
    };
    const server = createServer((req, res) => {
        const cursor = new URL(req.url!, 'http://x').searchParams.get('cursor') ?? '';
        res.setHeader('content-type', 'application/json');
        res.end(bodies[cursor] ?? '{"records":[],"next_cursor":null}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const source = createWorkerPageSource({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: API_KEY, timeoutMs: 5000, retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 10 }, logger: pino({ level: 'silent' }), idleStopMs: 1000 });
    try {
        const seen: Array<[number, string | null]> = [];
        const done = (async () => {
            for await (const page of source.pages(KEY, null, 100, AbortSignal.timeout(5000))) {
                seen.push([page.rows.length, page.nextCursor]);
                if (page.rows.length === 0) break;
                await new Promise((resolve) => setTimeout(resolve, 300));
            }
        })();
        await done;
        assert.deepEqual(seen.at(-1), [0, 'c4'], `the empty page came out on its own: ${JSON.stringify(seen)}`);
    } finally {
        await source.close();
        server.close();
    }
});
