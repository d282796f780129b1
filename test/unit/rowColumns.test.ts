import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import { test } from 'node:test';
import type { RecordRow } from '../../src/domain/recordRow.js';
import { recordDataText } from '../../src/domain/recordRow.js';
import { emptyColumns, fromColumns, pushRow, toColumns } from '../../src/sync/rowColumns.js';

// Rows cross from the page worker to the main thread as columns (structured clone, as
// postMessage does): every field of every row must come back as it went, nulls and order included.

const rows: RecordRow[] = [
    { id: 'a', data: '{"id":"a","name":"Zoë"}', keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: '2026-12-01T00:00:00.000001Z', lastModifiedAt: '2026-12-01T00:00:00.000002Z', cursor: 'c1' },
    { id: '5', data: '{"id":"5"}', keepData: true, lastAction: 'DELETED', deletedAt: '2026-12-01T00:00:01.000000Z', prunedAt: null, firstSeenAt: '2026-11-30T00:00:00.000000Z', lastModifiedAt: '2026-12-01T00:00:01.000000Z', cursor: 'c2' },
    { id: 'p', data: '{"id":"p"}', keepData: true, lastAction: 'UPDATED', deletedAt: null, prunedAt: '2026-12-01T00:00:02.000000Z', firstSeenAt: '2026-11-29T00:00:00.000000Z', lastModifiedAt: '2026-12-01T00:00:02.000000Z', cursor: 'c3' },
];

test('rows survive the trip as columns through structured clone, field by field and in order', () => {
    assert.deepEqual(fromColumns(deserialize(serialize(toColumns(rows))) as ReturnType<typeof toColumns>), rows);
    assert.deepEqual(fromColumns(toColumns([])), []);
});

test('payloads in the page\'s bytes cross as ranges of one copy of the body, beside payloads as text', () => {
    const body = Buffer.from('xx{"id":"a","name":"Zoë"}yy{"id":"5"}');
    const c = emptyColumns(3, body);
    pushRow(c, rows[0]!, [2, 2 + Buffer.byteLength('{"id":"a","name":"Zoë"}')]);
    pushRow(c, rows[1]!, '{"id":"5"}');
    pushRow(c, rows[2]!, [body.indexOf('{"id":"5"}'), body.length]);
    const back = fromColumns(deserialize(serialize(c)) as typeof c);
    assert.deepEqual(back.map((r) => ({ ...r, data: recordDataText(r.data) })), [rows[0], rows[1], { ...rows[2], data: '{"id":"5"}' }]);
    assert.ok(back[0]!.data instanceof Uint8Array && back[2]!.data instanceof Uint8Array, 'no string made for a payload in the bytes');
});
