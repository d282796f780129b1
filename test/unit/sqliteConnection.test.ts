import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteConnection } from '../../src/storage/sqlite/connection.js';

test('the daemon\'s SQLite connection: WAL, FULL unless a write says otherwise, a 2 MB page cache (not better-sqlite3\'s 16 MB)', async () => {
    const conn = openSqliteConnection(join(mkdtempSync(join(tmpdir(), 'nm-conn-')), 'mirror.db'));
    try {
        assert.equal(conn.db.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(conn.db.pragma('synchronous', { simple: true }), 2);
        assert.equal(conn.db.pragma('cache_size', { simple: true }), -2000);
        assert.equal(conn.db.pragma('busy_timeout', { simple: true }), 5000);
    } finally {
        await conn.close();
    }
});
