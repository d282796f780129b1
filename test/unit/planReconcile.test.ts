import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyStatus } from '../../src/domain/keyState.js';
import type { SyncStatusItem } from '../../src/nango/syncStatus.js';
import { FINISHED_AT_SLACK_MS, planReconcile, type ReconcileInput } from '../../src/sync/planReconcile.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-30T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

function key(connectionId: string, overrides: Partial<KeyStatus> = {}): KeyStatus {
    return {
        providerConfigKey: 'hubspot', connectionId, model: 'Contact', variant: 'base', status: 'ok', cursor: 'c', requestSeq: 1, doneSeq: 1,
        pullRequestedAt: iso(NOW - 2 * HOUR), pullStartedAt: iso(NOW - HOUR), lastSuccessAt: iso(NOW - HOUR + 1000), nextAttemptAt: null, lastError: null,
        lastErrorCode: null, consecutiveFailures: 0, nangoSyncError: null, nangoSyncStatus: null, nangoFinishedAt: null, nangoRecordCount: null, liveRowsAtFinish: null, nangoStatusAt: null, recordsPulledTotal: 1, liveRows: 0, deletedRows: 0, ...overrides,
    };
}

function item(connectionId: string, finishedAt: number | undefined, overrides: Partial<SyncStatusItem> = {}): SyncStatusItem {
    return { connection_id: connectionId, name: 'contacts', variant: 'base', status: 'SUCCESS', ...(finishedAt === undefined ? {} : { finishedAt: new Date(finishedAt).toISOString() }), recordCount: { Contact: 1 }, ...overrides };
}

const plan = (keys: KeyStatus[], items: SyncStatusItem[] | null, extra: Partial<ReconcileInput> = {}) =>
    planReconcile({ keys, status: new Map([['hubspot', items]]), allowList: [], nowMs: NOW, fullIntervalMs: 0, ...extra });

test('a key is pulled when its sync finished after its last pull began (less the clock slack), not before', async () => {
    const pulledAt = NOW - HOUR;
    const p = await plan([key('ran'), key('quiet'), key('near')], [item('ran', pulledAt + 60_000), item('quiet', pulledAt - FINISHED_AT_SLACK_MS - 1), item('near', pulledAt - FINISHED_AT_SLACK_MS + 1000)]);
    assert.deepEqual(p.pull.map((k) => k.connectionId), ['ran', 'near']);
    assert.deepEqual([p.unchanged, p.reasons.changed], [1, 2]);
});

test('never pulled, last pull unfinished, not listed, gone, running and a status that could not be read', async () => {
    // `cut`: its last pull started after its sync finished but never finished (a replica died mid-way).
    const cut = key('cut', { status: 'running', pullStartedAt: iso(NOW - 30 * 60_000), lastSuccessAt: iso(NOW - 5 * HOUR) });
    const keys = [key('new', { lastSuccessAt: null }), key('unlisted'), key('gone', { status: 'gone' }), key('running'), cut];
    const p = await plan(keys, [item('new', NOW - 2 * HOUR), item('running', undefined, { status: 'RUNNING' }), item('gone', NOW), item('cut', NOW - 4 * HOUR)]);
    assert.deepEqual(p.pull.map((k) => k.connectionId), ['new', 'unlisted', 'cut']);
    assert.deepEqual([p.reasons.never_pulled, p.reasons.not_listed, p.reasons.unfinished, p.unchanged], [1, 1, 1, 1], 'a run in progress waits for its finishedAt (or its webhook)');
    const down = await plan(keys, null);
    assert.equal(down.reasons.status_unavailable, 4, 'every key but the gone one');
});

test('keys Nango lists that the mirror does not know are discovered, variants included, within the allow-list', async () => {
    const p = await plan([key('known')], [item('known', NOW - 3 * HOUR), item('known', NOW, { variant: 'emea' }), item('other', undefined, { recordCount: { Contact: 0, Deal: 2 } })], {
        allowList: [{ providerConfigKey: 'hubspot', model: 'Contact' }],
    });
    assert.deepEqual(p.discovered.map((k) => `${k.connectionId}/${k.model}/${k.variant}`), ['known/Contact/emea', 'other/Contact/base']);
    assert.equal(p.pull.length, 0);
});

test('the safety net pulls a key unpulled for its share of the interval, spread over [½, 1] of it', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => key(`k${i}`, { pullStartedAt: iso(NOW - 18 * HOUR - 1000), lastSuccessAt: iso(NOW - 18 * HOUR) }));
    const items = keys.map((k) => item(k.connectionId, NOW - 20 * HOUR));
    const p = await plan(keys, items, { fullIntervalMs: 24 * HOUR });
    // 18 h is 0.75 of the interval: about half the keys are due, never all, never none.
    assert.ok(p.reasons.safety_net > 60 && p.reasons.safety_net < 140, `${p.reasons.safety_net} of 200`);
    assert.equal((await plan(keys, items, { fullIntervalMs: 0 })).pull.length, 0, 'off');
    const late = keys.map((k) => ({ ...k, pullStartedAt: iso(NOW - 25 * HOUR - 1000), lastSuccessAt: iso(NOW - 25 * HOUR) }));
    assert.equal((await plan(late, keys.map((k) => item(k.connectionId, NOW - 30 * HOUR)), { fullIntervalMs: 24 * HOUR })).reasons.safety_net, 200);
});

test("Nango's view is written only where it changed: an unchanged pass writes nothing", async () => {
    const finished = NOW - 3 * HOUR;
    // Stored by the pass after each key's last pull; `pulled` was pulled again since.
    const stored = { nangoSyncStatus: 'SUCCESS', nangoFinishedAt: iso(finished), nangoRecordCount: 1, nangoStatusAt: iso(NOW - 30 * 60_000) };
    const p = await plan([key('same', stored), key('pulled', { ...stored, nangoStatusAt: iso(NOW - 2 * HOUR) }), key('more', { ...stored, nangoRecordCount: 0 }), key('errored', stored), key('fresh')], [
        item('same', finished),
        item('pulled', finished),
        item('more', finished),
        item('errored', finished, { status: 'ERROR' }),
        item('fresh', finished),
        item('new', finished),
    ]);
    assert.deepEqual(p.observed.map((o) => o.key.connectionId), ['pulled', 'more', 'errored', 'fresh', 'new']);
});
