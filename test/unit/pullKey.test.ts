import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createDaemonEvents } from '../../src/domain/daemonEvents.js';
import type { RecordRow } from '../../src/domain/recordRow.js';
import type { SyncKey } from '../../src/domain/syncKey.js';
import type { PageSource, RowPage } from '../../src/sync/pageSource.js';
import type { PullSession, PullSessions } from '../../src/storage/store.js';
import { pullKey } from '../../src/sync/pullKey.js';

// A pull writes each page as it comes and lets it become durable behind (on SQLite the fsync runs on
// the thread pool while the next page is written); what others are told waits for durability.
// Stub storage and pages record the order in which things happen.

const key: SyncKey = { providerConfigKey: 'p', connectionId: 'c', model: 'M', variant: 'base' };
const row = (id: string): RecordRow => ({ id, data: `{"id":"${id}"}`, keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: '2026-12-01T00:00:00.000000Z', lastModifiedAt: '2026-12-01T00:00:00.000000Z', cursor: `c${id}` });

function stubs(pages: RowPage[], durableAfterMs: number, failAt?: string) {
    const order: string[] = [];
    const session: PullSession = {
        key,
        start: { cursor: null, requestSeq: 1, consecutiveFailures: 0, resyncFrom: null, resyncSweep: false },
        async writePage(page) {
            order.push(`write ${page.cursor}`);
            const durable = new Promise<void>((resolve, reject) =>
                setTimeout(() => {
                    order.push(`durable ${page.cursor}`);
                    if (page.cursor === failAt) reject(new Error('fsync failed'));
                    else resolve();
                }, durableAfterMs),
            );
            return { result: { upserted: page.rows.length, deleted: 0, skipped: 0 }, durable };
        },
        sweep: () => Promise.resolve(0),
        finish: async () => void order.push('finish'),
        fail: async (f) => void order.push(`fail ${f.error}`),
        markGone: async () => undefined,
        abandon: async () => undefined,
    };
    const sessions: PullSessions = { withPull: (_key, _at, pull) => pull(session) };
    const source: PageSource = {
        async *pages() {
            for (const page of pages) yield page;
        },
        running: true,
        close: async () => undefined,
    };
    const events = createDaemonEvents();
    events.on('pageCommitted', (e) => order.push(`event ${e.cursor}`));
    const deps = { sessions, pages: source, logger: pino({ level: 'silent' }), pageSize: 1, deletes: 'soft' as const, failedPullBackoff: { baseDelayMs: 1000, maxDelayMs: 1000 }, events };
    return { order, deps };
}

test('the next page is written while the last one becomes durable; its event and the pull\'s end wait for durability', async () => {
    const { order, deps } = stubs([{ rows: [row('1')], nextCursor: 'c1' }, { rows: [row('2')], nextCursor: 'c2' }, { rows: [row('3')], nextCursor: null }], 30);
    const outcome = await pullKey(deps, key, new AbortController().signal);
    assert.equal(outcome?.outcome, 'ok');
    assert.deepEqual(order, ['write c1', 'write c2', 'durable c1', 'event c1', 'write c3', 'durable c2', 'event c2', 'durable c3', 'event c3', 'finish']);
});

test('a page that cannot be made durable fails the pull, and no event says it was committed', async () => {
    const { order, deps } = stubs([{ rows: [row('1')], nextCursor: 'c1' }, { rows: [row('2')], nextCursor: null }], 10, 'c1');
    const outcome = await pullKey(deps, key, new AbortController().signal);
    assert.equal(outcome?.outcome, 'failed');
    assert.ok(!order.includes('event c1') && !order.includes('finish'), order.join(', '));
    assert.ok(order.includes('fail fsync failed'), order.join(', '));
});

/** `deps` whose pages come from `source` and whose log lines are kept. */
function withSource(source: PageSource['pages']) {
    const { deps } = stubs([], 0);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { deps: { ...deps, logger, pages: { ...deps.pages, pages: source } }, finished: () => lines.find((l) => l['msg'] === 'pull finished')! };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("the pull's log counts the wait for the answer that failed it; with no page, that wait is the first page's", async () => {
    const { deps, finished } = withSource(async function* () {
        await sleep(60);
        throw new Error('Nango stalled');
    });
    const outcome = await pullKey(deps, key, new AbortController().signal);
    assert.equal(outcome?.outcome, 'failed');
    const line = finished();
    assert.ok((line['pageWaitMs'] as number) >= 50, JSON.stringify(line));
    assert.equal(line['firstPageMs'], line['pageWaitMs'], JSON.stringify(line));
});

test("the pull's log counts the wait for the source's end after its last page", async () => {
    const { deps, finished } = withSource(async function* () {
        yield { rows: [row('1')], nextCursor: 'c1' };
        await sleep(60);
    });
    const outcome = await pullKey(deps, key, new AbortController().signal);
    assert.equal(outcome?.outcome, 'ok');
    const line = finished();
    assert.ok((line['pageWaitMs'] as number) >= 50, JSON.stringify(line));
    assert.ok((line['firstPageMs'] as number) < (line['pageWaitMs'] as number), JSON.stringify(line));
});
