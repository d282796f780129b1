/**
 * The SQLite change log shows only changes on disk. A page commits before its WAL fsync (the next
 * page is written meanwhile), and a power cut in that window would take the change back and give
 * its seq to another change, which a reader already past it would never see. Real files, real
 * fsyncs; the test holds the writer's fsync at a gate.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { sqliteChangeLog } from '../../src/storage/sqlite/changeLog.js';
import { openSqliteConnection, type SqliteConnection } from '../../src/storage/sqlite/connection.js';
import { sqliteSchema } from '../../src/storage/sqlite/schema.js';
import { makeTempDir } from '../helpers/harness.js';

const KEY = { providerConfigKey: 'hubspot', connectionId: 'conn-1', model: 'Contact' };
const AT = '2026-12-01T10:00:00.000000Z';

/** A change committed the way a page commits: without its fsync (the caller flushes, or not). */
function logChange(conn: SqliteConnection, recordId: string): void {
    conn.withoutFsync(() =>
        conn.db
            .prepare(`INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at) VALUES (?, ?, ?, 'base', ?, 'added', ?, ?)`)
            .run(KEY.providerConfigKey, KEY.connectionId, KEY.model, recordId, AT, AT),
    );
}

/** A WAL fsync that counts itself and, while `hold` is set, waits for it. */
function heldSync(): { syncFile: (file: FileHandle) => Promise<void>; syncs: () => number; hold: () => () => void; releaseAll: () => void } {
    let count = 0;
    let gate: Promise<void> | undefined;
    const opens: Array<() => void> = [];
    return {
        async syncFile(file) {
            await gate;
            await file.datasync();
            count++;
        },
        syncs: () => count,
        releaseAll() {
            gate = undefined;
            for (const open of opens) open();
        },
        hold() {
            let open!: () => void;
            gate = new Promise((resolve) => (open = resolve));
            opens.push(open);
            return () => {
                gate = undefined;
                open();
            };
        },
    };
}

const ids = (rows: Array<{ recordId: string }>) => rows.map((r) => r.recordId);

test('a change is read only once its WAL fsync has returned; a read with nothing new waits for none', async () => {
    const dir = makeTempDir('changes-durable-');
    const sync = heldSync();
    const conn = openSqliteConnection(join(dir, 'mirror.db'), { syncFile: sync.syncFile });
    try {
        await sqliteSchema(conn).migrate();
        const changes = sqliteChangeLog(conn);
        logChange(conn, 'a');
        await conn.flush();
        assert.deepEqual(ids(await changes.readChanges({ after: 0, limit: 10 })), ['a']);

        // Page b commits; its fsync is held (a slow disk), as a pull writes the next page meanwhile.
        const release = sync.hold();
        logChange(conn, 'b');
        const pageDurable = conn.flush();
        let read: string[] | undefined;
        const reading = changes.readChanges({ after: 0, limit: 10 }).then((rows) => (read = ids(rows)));
        let latest: number | undefined;
        const bounding = changes.changeBounds().then((b) => (latest = b.latest));
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(read, undefined, 'b is committed but not on disk: the read waits');
        assert.equal(latest, undefined, 'and so does latest');

        release();
        await Promise.all([pageDurable, reading, bounding]);
        assert.deepEqual(read, ['a', 'b'], 'once on disk, b is shown');
        const seqB = (conn.db.prepare('SELECT max(seq) AS s FROM nango_changes').get() as { s: number }).s;
        assert.equal(latest, seqB);

        const before = sync.syncs();
        assert.deepEqual(ids(await changes.readChanges({ after: 0, limit: 10, ...KEY })), ['a', 'b']);
        assert.equal((await changes.changeBounds()).latest, seqB);
        assert.equal(sync.syncs(), before, 'nothing new: no fsync');
    } finally {
        sync.releaseAll();
        await conn.close();
        rmSync(dir, { recursive: true, force: true });
    }
});

test('a reader in another process (nango-mirror changes) syncs the WAL itself before it shows a change the writer has not synced yet', async () => {
    const dir = makeTempDir('changes-durable-');
    const path = join(dir, 'mirror.db');
    const writer = openSqliteConnection(path);
    const readerSync = heldSync();
    const reader = openSqliteConnection(path, { syncFile: readerSync.syncFile });
    try {
        await sqliteSchema(writer).migrate();
        await sqliteSchema(reader).checkReady();
        const changes = sqliteChangeLog(reader);
        logChange(writer, 'a'); // committed, never flushed by the writer
        assert.deepEqual(ids(await changes.readChanges({ after: 0, limit: 10 })), ['a']);
        assert.equal(readerSync.syncs(), 1, 'the reader fsynced the WAL before showing a');
        assert.deepEqual(ids(await changes.readChanges({ after: 0, limit: 10 })), ['a']);
        assert.equal(readerSync.syncs(), 1, 'and not again for the same changes');
    } finally {
        await reader.close();
        await writer.close();
        rmSync(dir, { recursive: true, force: true });
    }
});
