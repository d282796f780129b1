import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toMicroIso } from '../../src/domain/timestamps.js';

test('Postgres to_json timestamps keep all six fraction digits in UTC', () => {
    assert.equal(toMicroIso('2026-04-14T18:46:03.097459+00:00'), '2026-04-14T18:46:03.097459Z');
    assert.equal(toMicroIso('2026-04-14T18:46:03.0974+00:00'), '2026-04-14T18:46:03.097400Z');
    assert.equal(toMicroIso('2026-04-14T18:46:03+00:00'), '2026-04-14T18:46:03.000000Z');
    assert.equal(toMicroIso('2026-04-14T18:46:03.123Z'), '2026-04-14T18:46:03.123000Z');
});

test('other offsets are converted to UTC without losing microseconds', () => {
    assert.equal(toMicroIso('2024-03-04T06:59:51.471441-05:00'), '2024-03-04T11:59:51.471441Z');
    assert.equal(toMicroIso('2023-11-17T01:47:14.000001+02:00'), '2023-11-16T23:47:14.000001Z');
});

test('normalized timestamps order as text the way they order in time', () => {
    const a = toMicroIso('2026-04-14T18:46:03.0974+00:00');
    const b = toMicroIso('2026-04-14T18:46:03.097401+00:00');
    const c = toMicroIso('2026-04-14T18:46:03.1+00:00');
    assert.ok(a < b && b < c);
});

test('garbage is refused with the value in the message', () => {
    assert.throws(() => toMicroIso('yesterday'), /yesterday/);
});
