import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toRecordRow } from '../../src/sync/toRecordRows.js';
import { recordMetadata } from '../helpers/recordMetadata.js';

const meta = recordMetadata;

test('a live record: id as text, payload without metadata, microsecond timestamps', () => {
    const row = toRecordRow({ id: 5, name: 'Zoë', _nango_metadata: meta() });
    assert.equal(row.id, '5');
    assert.deepEqual(JSON.parse(row.data), { id: '5', name: 'Zoë' });
    assert.equal(row.keepData, false);
    assert.equal(row.lastModifiedAt, '2026-04-14T18:46:03.500000Z');
    assert.equal(row.firstSeenAt, '2026-04-14T18:46:03.097459Z');
    assert.equal(row.cursor, 'Y3Vyc29y');
});

test('a pruned record keeps the stored payload; unseen, it stands in as {id}', () => {
    const row = toRecordRow({ id: 'a', _nango_metadata: meta({ pruned_at: '2026-05-14T00:00:00+00:00' }) });
    assert.equal(row.keepData, true);
    assert.equal(row.data, '{"id":"a"}');
    assert.equal(row.prunedAt, '2026-05-14T00:00:00.000000Z');
});

test('a delete that carries only the id keeps the last payload; one with a payload replaces it', () => {
    const idOnly = toRecordRow({ id: 'a', _nango_metadata: meta({ last_action: 'DELETED', deleted_at: '2026-05-14T00:00:00+00:00' }) });
    assert.equal(idOnly.keepData, true);
    assert.equal(idOnly.deletedAt, '2026-05-14T00:00:00.000000Z');
    const full = toRecordRow({ id: 'a', name: 'x', _nango_metadata: meta({ last_action: 'DELETED', deleted_at: '2026-05-14T00:00:00+00:00' }) });
    assert.equal(full.keepData, false);
    assert.deepEqual(JSON.parse(full.data), { id: 'a', name: 'x' });
});

test('records without an id or metadata are refused', () => {
    assert.throws(() => toRecordRow({ name: 'x', _nango_metadata: meta() }), /id/);
    assert.throws(() => toRecordRow({ id: 'a' }), /_nango_metadata/);
    assert.throws(() => toRecordRow({ id: 'a', _nango_metadata: meta({ last_action: 'MOVED' }) }), /last_action/);
});
