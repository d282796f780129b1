import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeCursor, encodeCursor } from './fakeCursor.js';
import { createMicroClock, parseOffsetDatetimeMicros, toIsoMillis, toPostgresJson } from './nangoTime.js';
import { stableStringify } from './stableStringify.js';

const T = 1776192363097459n; // 2026-04-14T18:46:03.097459Z

test('toPostgresJson formats like Postgres to_json(timestamptz)', () => {
    assert.equal(toPostgresJson(T), '2026-04-14T18:46:03.097459+00:00');
    assert.equal(toPostgresJson(1776192363000000n), '2026-04-14T18:46:03+00:00');
    assert.equal(toPostgresJson(1776192363097000n), '2026-04-14T18:46:03.097+00:00');
    assert.equal(toPostgresJson(1776192363000010n), '2026-04-14T18:46:03.00001+00:00');
    assert.equal(toPostgresJson(1776192363500000n), '2026-04-14T18:46:03.5+00:00');
    assert.equal(toPostgresJson(-1n), '1969-12-31T23:59:59.999999+00:00');
    assert.equal(toIsoMillis(T), '2026-04-14T18:46:03.097Z');
});

test('createMicroClock is strictly increasing and can jump forward', () => {
    const clock = createMicroClock(T);
    let prev = clock();
    assert.ok(prev >= T && prev < T + 1_000_000n);
    for (let i = 0; i < 10_000; i++) {
        const next = clock();
        assert.ok(next > prev);
        prev = next;
    }
    clock.advance(30n * 86_400_000_000n);
    assert.ok(clock() >= T + 30n * 86_400_000_000n);
});

test('parseOffsetDatetimeMicros accepts zod offset datetimes only', () => {
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T18:46:03.097459+00:00'), T);
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T18:46:03.097459Z'), T);
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T13:46:03.097459-05:00'), T);
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T18:46:03.0974594Z'), T); // rounded to µs
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T18:46Z'), 1776192360000000n);
    assert.equal(parseOffsetDatetimeMicros('2026-02-30T00:00:00Z'), undefined);
    assert.equal(parseOffsetDatetimeMicros('2026-04-14T18:46:03+00'), undefined);
    assert.equal(parseOffsetDatetimeMicros('2026-04-14 18:46:03+00:00'), undefined);
});

test('cursor round trip and the docs examples', () => {
    const uuid = '15ccc805-64d5-4940-a7e0-45fc704997a1';
    const c = encodeCursor(T, uuid);
    assert.equal(Buffer.from(c, 'base64').toString(), `2026-04-14T18:46:03.097459+00:00||${uuid}`);
    assert.deepEqual(decodeCursor(c), { micros: T, uuid });
    // protocol §4.3: the first docs cursor is valid, the truncated-uuid one is not
    assert.ok(decodeCursor('MjAyNC0wMy0wNFQwNjo1OTo1MS40NzE0NDEtMDU6MDB8fDE1Y2NjODA1LTY0ZDUtNDk0MC1hN2UwLTQ1ZmM3MDQ5OTdhMQ=='));
    assert.equal(decodeCursor('MjAyMy0xMS0xN1QxMTo0NzoxNC40NDcrMDI6MDB8fDAzZTA1NzIxLWNiZmQtNGYxNS1iYTNhLWFlNjM2Y2MwNmEw=='), undefined);
    assert.equal(decodeCursor(Buffer.from('a||b').toString('base64')), undefined);
    assert.equal(decodeCursor(Buffer.from(`${toPostgresJson(T)}||${uuid}||x`).toString('base64')), undefined);
});

test('stableStringify sorts keys like fast-safe-stringify', () => {
    assert.equal(stableStringify({ '10': 1, '2': 2, a: 3 }), '{"2":2,"10":1,"a":3}');
    assert.equal(stableStringify({ b: { d: 1, c: [{ z: 1, y: undefined, x: 2 }] }, a: undefined }), '{"b":{"c":[{"x":2,"z":1}],"d":1}}');
    assert.equal(stableStringify({ at: new Date('2026-08-20T10:00:00.123Z') }), '{"at":"2026-08-20T10:00:00.123Z"}');
    assert.equal(stableStringify({ s: 'é\u2028/' }), '{"s":"é\u2028/"}');
    const loop: Record<string, unknown> = { a: 1 };
    loop['self'] = loop;
    assert.equal(stableStringify(loop), '{"a":1,"self":"[Circular]"}');
    assert.equal(stableStringify('payload'), '"payload"');
});
