import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { emptyColumns, pushRow, fromColumns } from '../../src/sync/rowColumns.js';
import { batchedPoster, movablePageBuffers } from '../../src/sync/pageWorkerProtocol.js';
import { recordDataText } from '../../src/domain/recordRow.js';

const fields = (id: string) => ({ id, keepData: false, lastAction: 'ADDED' as const, deletedAt: null, prunedAt: null, firstSeenAt: 't', lastModifiedAt: 't', cursor: `c${id}` });

function page(body: Buffer) {
    const c = emptyColumns(2, body);
    pushRow(c, fields('1'), [0, 9]);
    pushRow(c, fields('2'), '{"id":"2"}');
    return c;
}

test('a page body of its own moves to the other thread, uncopied; a view of Node\'s shared pool is copied', () => {
    const own = Buffer.allocUnsafeSlow(9);
    own.write('{"id":"1"');
    const c = page(own);
    assert.deepEqual(movablePageBuffers(c), [own.buffer, c.dataStart.buffer, c.dataEnd.buffer]);

    const pooled = Buffer.from('{"id":"1"');
    assert.ok(pooled.buffer.byteLength > pooled.byteLength, 'the test needs a pooled buffer');
    const p = page(pooled);
    assert.deepEqual(movablePageBuffers(p), [p.dataStart.buffer, p.dataEnd.buffer], 'the pool is never moved');
    assert.deepEqual(movablePageBuffers(emptyColumns(0)), [], 'nor an empty page\'s shared empty body');
});

test('batchedPoster posts one batch a turn with every transfer of the batch; through a real port the sender\'s body is gone, the receiver\'s whole', async () => {
    const { port1, port2 } = new MessageChannel();
    try {
        const send = batchedPoster<{ columns: ReturnType<typeof page> }>((batch, transfer) => port1.postMessage(batch, transfer));
        const a = Buffer.allocUnsafeSlow(9);
        a.write('{"id":"a"');
        const b = Buffer.allocUnsafeSlow(9);
        b.write('{"id":"b"');
        const pa = page(a);
        const pb = page(b);
        send({ columns: pa }, movablePageBuffers(pa));
        send({ columns: pb }, movablePageBuffers(pb));
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(a.byteLength, 0, 'moved: detached on the sending side');
        assert.equal(b.byteLength, 0);
        const got = receiveMessageOnPort(port2)?.message as Array<{ columns: ReturnType<typeof page> }>;
        assert.equal(got.length, 2, 'one message for the turn');
        assert.deepEqual(got.map((m) => fromColumns(m.columns).map((r) => recordDataText(r.data))), [['{"id":"a"', '{"id":"2"}'], ['{"id":"b"', '{"id":"2"}']]);
    } finally {
        port1.close();
        port2.close();
    }
});
