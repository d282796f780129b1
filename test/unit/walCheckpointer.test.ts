import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteConnection, type SqliteConnection, type SqliteConnectionOptions } from '../../src/storage/sqlite/connection.js';
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
    startWalCheckpointer(file.path, {
        intervalMs: 200,
        idleAfterMs: 60_000,
        restartFrames: 1000,
        catchUpLimitMs: 50,
        quietAfterRefusalMs: 2000,
        onFailure: (err) => failures.push(err.message),
        onIdle: () => failures.push('idle'),
    });
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

// A pull writes page after page without a pause: the worker's copy is never whole when the next
// transaction begins, so without a bound the WAL never starts over and holds the whole pull.
const CHUNK_BYTES = 256 * 1024;
/** 300 frames of 4 KiB: about 1.2 MB, five chunks. */
const BOUND_FRAMES = 300;
/** What "near its bound" allows: half of what each test writes past it. */
const MARGIN_BYTES = 42 * 2 ** 20;
const walBytes = (path: string) => statSync(`${path}-wal`).size;

/**
 * `count` commits of one chunk each, as a pull writes its pages (makeWalRoom first), a page every
 * millisecond or so; the WAL file's largest size.
 */
async function writeLikeAPull(conn: SqliteConnection, count: number, pauseMs = 1): Promise<number> {
    const insert = conn.db.prepare('INSERT INTO blobs (data) VALUES (?)');
    let largest = 0;
    for (let i = 0; i < count; i++) {
        await conn.makeWalRoom();
        conn.withoutFsync(() => insert.run(Buffer.alloc(CHUNK_BYTES, i % 251)));
        largest = Math.max(largest, walBytes(conn.path));
        await sleep(pauseMs);
    }
    return largest;
}

/** A connection whose worker ticks every 20 ms and bounds the WAL at BOUND_FRAMES, once the worker has checkpointed a first write. */
async function boundedConnection(path: string, options: SqliteConnectionOptions = {}): Promise<SqliteConnection> {
    const bound = options.walMaxMb === undefined ? { walRestartFrames: BOUND_FRAMES } : {};
    const conn = openSqliteConnection(path, { checkpointIntervalMs: 20, quietAfterRefusalMs: 200, ...bound, ...options });
    prepare(conn);
    conn.checkpointInBackground();
    conn.withoutFsync(() => conn.db.prepare('INSERT INTO blobs (data) VALUES (?)').run(Buffer.alloc(CHUNK_BYTES, 1)));
    await waitFor(() => statSync(path).size > CHUNK_BYTES, 5000, 'the worker to start and checkpoint');
    return conn;
}

/** Runs `body` on a bounded connection to a scratch file, then closes both. */
async function withBoundedConnection(options: SqliteConnectionOptions, body: (conn: SqliteConnection, path: string) => Promise<void>): Promise<void> {
    const file = scratch();
    const conn = await boundedConnection(file.path, options);
    try {
        await body(conn, file.path);
    } finally {
        await conn.close();
        file.dispose();
    }
}

test('a writer that never pauses keeps the WAL near its bound: past it, the writer waits for a whole copy and the WAL starts over', async () => {
    await withBoundedConnection({}, async (conn) => {
        // 320 chunks: 84 MB through the WAL, all of it in the file without the bound. Past the bound
        // the WAL grows until the worker's next tick (20 ms, a few MB) and more while a busy
        // machine keeps the worker off a core: the margin is wide.
        const largest = await writeLikeAPull(conn, 320);
        assert.ok(largest < MARGIN_BYTES, `the WAL stayed near its bound: its file peaked at ${largest} bytes of the 84 MB written`);
        assert.deepEqual(conn.db.prepare('SELECT count(*) AS n, sum(length(data)) AS bytes FROM blobs').get(), { n: 321, bytes: 321 * CHUNK_BYTES });
    });
});

test('two writers at once wait for the same catch-up, and the WAL stays near its bound', async () => {
    await withBoundedConnection({}, async (conn) => {
        // Two writers fill the WAL twice as fast as one, and beside other busy test files a worker
        // kept off a core let 160 chunks each take the file to 46 MB of 84 (once in six, with three
        // busy loops beside it): 320 each, and the margin is half of what they write.
        const [a, b] = await Promise.all([writeLikeAPull(conn, 320), writeLikeAPull(conn, 320)]);
        assert.ok(Math.max(a, b) < 2 * MARGIN_BYTES, `the WAL stayed near its bound: ${Math.max(a, b)} bytes of the 168 MB written`);
        assert.deepEqual(conn.db.prepare('SELECT count(*) AS n FROM blobs').get(), { n: 641 });
    });
});

test("an app's open read holds the copy back: the writer goes on past the bound, and once the read ends the WAL starts over", async () => {
    await withBoundedConnection({}, async (conn, path) => {
        const reader = openSqliteConnection(path);
        try {
            // A read transaction with rows to read: its snapshot keeps the frames after it from being copied.
            reader.db.exec('BEGIN');
            assert.deepEqual(reader.db.prepare('SELECT count(*) AS n FROM blobs').get(), { n: 1 });
            const started = performance.now();
            const held = await writeLikeAPull(conn, 60);
            const elapsed = performance.now() - started;
            assert.ok(held > 10 * 2 ** 20, `held back, the WAL grew past its bound: ${held} bytes`);
            // 60 commits of 256 KB take well under a second; a refused catch-up costs the writer about 50 ms, then 200 ms without asking.
            assert.ok(elapsed < 30_000, `the writer went on: ${elapsed.toFixed(0)} ms`);
            assert.deepEqual(reader.db.prepare('SELECT count(*) AS n FROM blobs').get(), { n: 1 }, 'the reader still sees its snapshot');
            reader.db.exec('COMMIT');
            // The read has ended: at the worker's next tick the WAL starts over within the file it has.
            // 320 more chunks are 84 MB; the file grows by what comes before that tick, if anything.
            const after = await writeLikeAPull(conn, 320);
            assert.ok(after - held < MARGIN_BYTES, `the WAL file grew by ${after - held} bytes once the read ended (from ${held}), of the 84 MB written`);
            assert.deepEqual(conn.db.prepare('SELECT count(*) AS n FROM blobs').get(), { n: 381 });
        } finally {
            await reader.close();
        }
    });
});

test('the bound is given in MB (config database.walMaxMb): 1 MB keeps the WAL near it', async () => {
    await withBoundedConnection({ walMaxMb: 1 }, async (conn) => {
        const largest = await writeLikeAPull(conn, 320);
        assert.ok(largest < MARGIN_BYTES, `the WAL stayed near its bound: its file peaked at ${largest} bytes of the 84 MB written`);
    });
});

/**
 * A plain writer connection (automatic checkpoints off, as the daemon's) and a checkpoint worker
 * started on its own, with `options` (its tick, catch-up limit); `close` stops both.
 */
function writerAndWorker(path: string, options: { intervalMs: number; catchUpLimitMs: number; quietAfterRefusalMs: number }) {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    const failures: string[] = [];
    const worker = startWalCheckpointer(path, {
        ...options,
        idleAfterMs: 60_000,
        restartFrames: BOUND_FRAMES,
        onFailure: (err) => failures.push(err.message),
        onIdle: () => failures.push('idle'),
    });
    return {
        db,
        insert: db.prepare('INSERT INTO blobs (data) VALUES (?)'),
        worker,
        failures,
        close: async () => {
            await worker.stop();
            db.close();
        },
    };
}

test("the daemon's other writes while a catch-up copies do not pass for a whole copy: when it answers true, the next write starts the WAL over", async () => {
    const file = scratch();
    // Ticks a second apart: the backlog written after the first one is left to the catch-up to copy.
    const { db, insert, worker, failures, close } = writerAndWorker(file.path, { intervalMs: 1000, catchUpLimitMs: 1000, quietAfterRefusalMs: 60_000 });
    db.exec('CREATE TABLE small (id INTEGER PRIMARY KEY, at REAL)');
    const small = db.prepare('INSERT INTO small (at) VALUES (?)');
    let others: NodeJS.Timeout | undefined;
    try {
        for (let i = 0; i < 8; i++) insert.run(Buffer.alloc(CHUNK_BYTES, i));
        await waitFor(() => worker.restartWanted, 10_000, 'the worker to see the WAL past its bound');
        // 40 MB the worker has not copied yet: the catch-up's copy takes a while, and the daemon's
        // other writes (a webhook's request, a key's state) commit meanwhile, for 20 ms from the
        // first (timed from the first tick: on a loaded machine the first tick came after 20 ms
        // from here, and no write ran).
        for (let i = 0; i < 160; i++) insert.run(Buffer.alloc(CHUNK_BYTES, i % 251));
        let until: number | undefined;
        others = setInterval(() => {
            until ??= performance.now() + 20;
            if (performance.now() < until) small.run(performance.now());
        }, 1);
        const whole = await worker.catchUp();
        clearInterval(others);
        assert.ok((db.prepare('SELECT count(*) AS n FROM small').get() as { n: number }).n > 0, 'the other writes ran');
        assert.equal(whole, true, 'nothing held the copy back once the other writes stopped');
        const before = walBytes(file.path);
        insert.run(Buffer.alloc(CHUNK_BYTES, 9));
        assert.equal(walBytes(file.path), before, 'the write after a whole copy started the WAL over (at its start) instead of appending to it');
        assert.deepEqual(failures, []);
    } finally {
        clearInterval(others);
        await close();
        file.dispose();
    }
});

test('a WAL that started over without a catch-up (the pull ended, a later write restarted it) is no longer past its bound: the next pull does not wait', async () => {
    const file = scratch();
    const { insert, worker, failures, close } = writerAndWorker(file.path, { intervalMs: 20, catchUpLimitMs: 50, quietAfterRefusalMs: 200 });
    try {
        for (let i = 0; i < 8; i++) insert.run(Buffer.alloc(CHUNK_BYTES, i));
        await waitFor(() => worker.restartWanted, 10_000, 'the worker to see the WAL past its bound');
        // The pull has ended: the worker's next look copies everything, and the write after it starts the WAL over.
        await waitFor(
            () => {
                insert.run(Buffer.alloc(10, 1));
                return !worker.restartWanted;
            },
            10_000,
            'the worker to see the WAL back under its bound',
        );
        assert.deepEqual(failures, []);
    } finally {
        await close();
        file.dispose();
    }
});
