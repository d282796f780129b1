import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqliteConnection, type SqliteConnection } from '../../src/storage/sqlite/connection.js';
import { startWalCheckpointer } from '../../src/storage/sqlite/walCheckpointer.js';
import { waitFor } from '../helpers/harness.js';

// The daemon's SQLite connection leaves checkpoints to a worker thread once it is the file's writer
// (walCheckpointer.ts): its commits no longer copy the WAL into the database and fsync both.
// Observed through the database file's size: a checkpoint is what moves committed pages into it.

const BLOB_BYTES = 4 * 1024 * 1024;

function scratch(): { path: string; dispose: () => void } {
    const dir = mkdtempSync(join(tmpdir(), 'checkpointer-'));
    return { path: join(dir, 'mirror.db'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A table, then one commit of 4 MB: about 1,000 WAL pages, past SQLite's automatic checkpoint. */
function prepare(conn: SqliteConnection): void {
    conn.db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    conn.attachWal();
}
const writeBlob = (conn: SqliteConnection) => conn.db.prepare('INSERT INTO blobs (data) VALUES (?)').run(Buffer.alloc(BLOB_BYTES, 7));

test('without the worker, the commit itself checkpoints (the main thread copies the WAL into the file)', async () => {
    const file = scratch();
    const conn = openSqliteConnection(file.path);
    try {
        prepare(conn);
        writeBlob(conn);
        writeBlob(conn);
        assert.ok(statSync(file.path).size > BLOB_BYTES, `the database file grew at the commit: ${statSync(file.path).size} bytes`);
    } finally {
        await conn.close();
        file.dispose();
    }
});

test("with the worker, commits leave the WAL alone and the worker copies it within its interval; close waits for the worker's connection", async () => {
    const file = scratch();
    const conn = openSqliteConnection(file.path);
    try {
        prepare(conn);
        conn.checkpointInBackground();
        assert.equal(conn.db.pragma('wal_autocheckpoint', { simple: true }), 0);
        writeBlob(conn);
        writeBlob(conn);
        assert.ok(statSync(file.path).size < BLOB_BYTES, `nothing checkpointed by the commits: ${statSync(file.path).size} bytes`);
        await waitFor(() => statSync(file.path).size > 2 * BLOB_BYTES, 5000, 'the worker to checkpoint both commits');
        assert.deepEqual(conn.db.prepare('SELECT count(*) AS n FROM blobs').get(), { n: 2 });
    } finally {
        await conn.close();
    }
    // The last connection to close checkpoints and removes the WAL: the worker's was closed first.
    assert.equal(existsSync(`${file.path}-wal`), false, 'the WAL is gone: no connection was left open');
    file.dispose();
});

test('a worker that cannot open the database reports one failure, once (its error and then its exit)', async () => {
    const file = scratch();
    const failures: string[] = [];
    startWalCheckpointer(file.path, { intervalMs: 200, idleAfterMs: 60_000, onFailure: (err) => failures.push(err.message), onIdle: () => failures.push('idle') });
    try {
        await waitFor(() => failures.length > 0, 5000, 'the failure');
        // The exit (code 1) follows the error: give it time to arrive.
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(failures.length, 1, failures.join(' | '));
    } finally {
        file.dispose();
    }
});

test('the worker exits once the WAL is idle, the WAL file is truncated, automatic checkpoints return meanwhile, and the next write starts it again', async () => {
    const file = scratch();
    const conn = openSqliteConnection(file.path, { checkpointerIdleMs: 600 });
    try {
        prepare(conn);
        conn.checkpointInBackground();
        assert.equal(conn.checkpointing, true);
        conn.withoutFsync(() => writeBlob(conn));
        await waitFor(() => !conn.checkpointing, 5000, 'the idle worker to exit');
        assert.ok(statSync(file.path).size > BLOB_BYTES, 'it checkpointed the write before it went idle');
        assert.equal(statSync(`${file.path}-wal`).size, 0, 'idle, the WAL file gives its disk space back');
        assert.equal(conn.db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'automatic checkpoints are back while no worker runs');
        conn.withoutFsync(() => writeBlob(conn));
        assert.equal(conn.checkpointing, true, 'a write starts the worker again');
        assert.equal(conn.db.pragma('wal_autocheckpoint', { simple: true }), 0);
        await waitFor(() => statSync(file.path).size > 2 * BLOB_BYTES, 5000, 'the new worker to checkpoint the second write');
    } finally {
        await conn.close();
    }
    assert.equal(existsSync(`${file.path}-wal`), false, 'no connection was left open');
    file.dispose();
});
