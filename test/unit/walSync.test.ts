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
    let starts = 0;
    // No sleeps: the first fsync signals that it has started, then waits at a gate the test opens.
    let firstStarted!: () => void;
    const started = new Promise<void>((r) => (firstStarted = r));
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const sync = createWalSync(wal.path, async (file: FileHandle) => {
        starts++;
        await file.sync();
        if (starts === 1) {
            firstStarted();
            await gate;
        }
    });
    try {
        const first = [sync.flush(), sync.flush(), sync.flush()];
        await started;
        assert.equal(starts, 1, 'three flushes in one turn: one fsync');
        // This commit came after the running fsync began: that fsync may not cover it.
        let lateDone = false;
        const late = sync.flush().then(() => (lateDone = true));
        // Let every settled promise run: the late flush must still wait, whatever the machine's speed.
        await new Promise((r) => setImmediate(r));
        assert.equal(lateDone, false, 'not resolved by the fsync that was already running');
        assert.equal(starts, 1, 'no second fsync while the first one runs');
        openGate();
        await Promise.all([...first, late]);
        assert.equal(starts, 2, 'the late flush got an fsync of its own, after the first');
    } finally {
        openGate();
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

test('close lets the flushes already asked for finish, and refuses any asked for after it began (they would open the file again, and leak it)', async () => {
    const wal = walFile();
    let opened = 0;
    const sync = createWalSync(wal.path, async (file: FileHandle) => {
        opened++;
        await file.sync();
    });
    try {
        const before = sync.flush();
        const closing = sync.close();
        await assert.rejects(sync.flush(), /closed/);
        await before;
        await closing;
        assert.equal(opened, 1, 'the flush asked for before close ran, once');
        await assert.rejects(sync.flush(), /closed/);
    } finally {
        wal.dispose();
    }
});
