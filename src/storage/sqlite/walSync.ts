import { open, type FileHandle } from 'node:fs/promises';

/**
 * Makes commits durable without blocking the event loop. better-sqlite3 is synchronous, so a commit
 * with `synchronous = FULL` holds the main thread for a whole fsync (0.5 ms on a quiet disk, several
 * under load) while webhooks wait to be answered. Instead a pull request commits with NORMAL (its
 * WAL frames written, not flushed), and then this fsyncs the WAL file on libuv's thread pool.
 *
 * Why that is as durable as FULL: on Linux, fsync(2) and fdatasync(2) flush every written page of the file,
 * whichever descriptor wrote it; WAL frames are appended in commit order, and recovery replays
 * them up to the last whole commit. So every commit made before an fsync starts survives a power
 * cut once that fsync returns. The WAL file is never replaced while the daemon's own connection
 * is open (SQLite removes it only when the last connection closes; a checkpoint keeps its inode).
 */
export interface WalSync {
    /** Resolves once every commit made before this call is on disk; rejects if the fsync failed, or once closing began. */
    flush(): Promise<void>;
    close(): Promise<void>;
}

interface Waiter {
    resolve: () => void;
    reject: (err: unknown) => void;
}

/**
 * `syncFile` is the flush itself; a test may count or fail it. fdatasync, as SQLite uses on Linux:
 * the file's data and size, not its timestamps (a full fsync also writes the inode every time).
 */
export function createWalSync(walPath: string, syncFile: (file: FileHandle) => Promise<void> = (file) => file.datasync()): WalSync {
    let file: Promise<FileHandle> | undefined;
    let waiting: Waiter[] = [];
    let running: Promise<void> | undefined;

    async function run(): Promise<void> {
        // Group commit: callers that arrive while one fsync runs share the next one. It must be a
        // new one: the running fsync may have started before their frames were written.
        while (waiting.length > 0) {
            const batch = waiting;
            waiting = [];
            try {
                file ??= open(walPath, 'r');
                await syncFile(await file);
                for (const w of batch) w.resolve();
            } catch (err) {
                file = undefined;
                for (const w of batch) w.reject(err);
            }
        }
        running = undefined;
    }

    let closed = false;

    return {
        flush() {
            // Closing: a flush that came after would open the file again, and nothing would close it.
            if (closed) return Promise.reject(new Error('The WAL flush is closed: the database is closing.'));
            return new Promise<void>((resolve, reject) => {
                waiting.push({ resolve, reject });
                running ??= run();
            });
        },
        async close() {
            closed = true;
            await running;
            const handle = await file?.catch(() => undefined);
            file = undefined;
            await handle?.close();
        },
    };
}
