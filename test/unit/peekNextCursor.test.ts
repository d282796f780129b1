import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peekNextCursor } from '../../src/nango/client.js';
import { scanRecordsPage } from '../../src/nango/scanRecordsPage.js';

test('next_cursor is read from the first or the last key of the body, without parsing it', () => {
    assert.equal(peekNextCursor(Buffer.from('{"next_cursor":"MjAy=","records":[{"id":"1"}]}')), 'MjAy=');
    assert.equal(peekNextCursor(Buffer.from('{"records":[{"id":"1"}],"next_cursor":"MjAy="}')), 'MjAy=');
    assert.equal(peekNextCursor(Buffer.from('{"records":[],"next_cursor":null}')), null);
    assert.equal(peekNextCursor(Buffer.from('{"next_cursor":null,"records":[]}')), null);
});

test('a next_cursor inside a record is never taken for the page\'s own', () => {
    assert.equal(peekNextCursor(Buffer.from('{"records":[{"id":"1","next_cursor":"evil"}]}')), undefined);
    assert.equal(peekNextCursor(Buffer.from('{"records":[{"id":"1","next_cursor":"evil"}],"other":1}')), undefined);
    assert.equal(peekNextCursor(Buffer.from(' {"next_cursor":"x","records":[]}')), undefined);
});

test('the guess is only a guess: a body that misleads it still parses to its real cursor', () => {
    // Duplicate keys: JSON.parse keeps the last one; the puller checks the guess against it.
    const body = '{"next_cursor":"first","records":[],"next_cursor":"real"}';
    assert.equal(peekNextCursor(Buffer.from(body)), 'first');
    assert.equal(scanRecordsPage(Buffer.from(body)).nextCursor, 'real');
});
