import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createWalSync } from '../../src/storage/sqlite/walSync.js';

function walFile(): { path: string; dispose: () => void } {
    const dir = mkdtempSync(join(tmpdir(), 'walsync-'));
    const path = join(dir, 'mirror.db-wal');
    writeFileSync(path, 'frames');
    return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

test('flushes asked for together share one fsync; one asked for during an fsync gets the next', async () => {
    const wal = walFile();
    const started: number[] = [];
    let release!: () => void;
    // The real fsync, held open until the test lets it finish.
    const sync = createWalSync(wal.path, async (file: FileHandle) => {
        started.push(Date.now());
        await file.sync();
        if (started.length === 1) await new Promise<void>((r) => (release = r));
    });
    try {
        const first = [sync.flush(), sync.flush(), sync.flush()];
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(started.length, 1, 'three flushes in one turn: one fsync');
        // This commit came after the running fsync began: that fsync may not cover it.
        let lateDone = false;
        const late = sync.flush().then(() => (lateDone = true));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(lateDone, false, 'not resolved by the fsync that was already running');
        release();
        await Promise.all([...first, late]);
        assert.equal(started.length, 2, 'the late flush got an fsync of its own, after the first');
    } finally {
        await sync.close();
        wal.dispose();
    }
});

test('a failed fsync rejects every flush that waited on it, and the next flush tries again', async () => {
    const wal = walFile();
    let fail = true;
    const sync = createWalSync(wal.path, async (file) => {
        if (fail) throw new Error('EIO');
        await file.sync();
    });
    try {
        const results = await Promise.allSettled([sync.flush(), sync.flush()]);
        assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
        fail = false;
        await sync.flush();
    } finally {
        await sync.close();
        wal.dispose();
    }
});

test('a missing WAL file is an error, not a silent success', async () => {
    const sync = createWalSync(join(tmpdir(), `no-such-dir-${process.pid}`, 'mirror.db-wal'));
    await assert.rejects(sync.flush(), /ENOENT/);
    await sync.close();
});
