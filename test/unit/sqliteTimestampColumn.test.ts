import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { postgresColumnExpression } from '../../src/storage/postgres/views.js';
import { sqliteColumnExpression } from '../../src/storage/sqlite/views.js';
import { testEngines } from '../helpers/engines.js';

const engines = await testEngines();

// A generated view's timestamp column: UTC microsecond text on SQLite, like the mirror's own
// timestamps, or NULL when the value is not an RFC 3339 date-time, exactly where Postgres's
// `timestamptz` column reads NULL.
const CASES: Array<[unknown, string | null]> = [
    ['2026-11-30T10:00:01.123456Z', '2026-11-30T10:00:01.123456Z'],
    ['2026-11-30T10:00:01Z', '2026-11-30T10:00:01.000000Z'],
    ['2026-11-30T10:00:01.1Z', '2026-11-30T10:00:01.100000Z'],
    ['2026-11-30T12:00:01.123456+02:00', '2026-11-30T10:00:01.123456Z'],
    ['2026-12-01T01:30:00-01:00', '2026-12-01T02:30:00.000000Z'],
    ['2026-11-30 10:00:01Z', '2026-11-30T10:00:01.000000Z'],
    ['2024-02-29T23:59:59+02:00', '2024-02-29T21:59:59.000000Z'],
    ['2026-11-30T10:00:01', null],
    ['2026-11-30t10:00:01z', null],
    ['2023-02-29T00:00:00Z', null],
    ['2026-11-30T24:00:00Z', null],
    ['2026-11-30T10:00:60Z', null],
    ['2026-11-30T10:60:00Z', null],
    ['2026-11-30T10:00:01.Z', null],
    ['2026-11-30T10:00:01.1234567890Z', null],
    ['2026-11-30T10:00:01+15:00', null],
    ['0000-01-01T00:00:00Z', null],
    ['2026-11-30T10:00:01Zjunk', null],
    ['2026-11-30', null],
    ['not a date', null],
    [1764496801, null],
    [null, null],
];

test('SQLite timestamp columns: RFC 3339 to UTC microseconds, anything else NULL', () => {
    const db = new Database(':memory:');
    const read = db.prepare<[string], { v: string | null }>(`SELECT ${sqliteColumnExpression({ path: ['t'], type: 'timestamp' })} AS v FROM (SELECT ? AS data)`);
    for (const [value, expected] of CASES) assert.equal(read.get(JSON.stringify({ t: value }))?.v ?? null, expected, JSON.stringify(value));
    db.close();
});

test('Postgres reads the same instants (and NULL for the same values)', { skip: engines.includes('postgres') ? false : 'Postgres does not answer' }, async () => {
    const client = new pg.Client({ connectionString: process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test' });
    await client.connect();
    try {
        const expression = postgresColumnExpression({ path: ['t'], type: 'timestamp' });
        for (const [value, expected] of CASES) {
            const { rows } = await client.query<{ v: string | null }>(
                `SELECT to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS v FROM (SELECT $1::jsonb AS data) d`,
                [JSON.stringify({ t: value })],
            );
            assert.equal(rows[0]?.v ?? null, expected, JSON.stringify(value));
        }
    } finally {
        await client.end();
    }
});
