import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the commit
 * that crosses 1,000 WAL pages, on the committing connection: the daemon's one connection, on the
 * main thread. It copies the WAL's pages into the database and fsyncs both files, and with every
 * key's state written a few times a pull that happened many times a second: a batch of 1,000
 * status updates took 33 ms with it and 15 ms without (median of 20, same file), and the keys
 * bench saw the main thread held 40–65 ms by such commits. Here a second connection in a worker
 * runs a PASSIVE checkpoint every `intervalMs` while the daemon's connection has
 * `wal_autocheckpoint = 0`. PASSIVE never waits for the writer or readers: it copies what it can,
 * and the writer restarts the WAL from its start once everything is copied. Durability is
 * SQLite's own: a checkpoint is safe to interrupt, and a commit is durable in the WAL before any
 * checkpoint copies it (walSync.ts).
 */
export interface WalCheckpointer {
    /** False once the worker has exited, on its own (idle, or failed) or stopped. */
    readonly running: boolean;
    /** Stops the worker after a last checkpoint; resolves once its connection is closed. */
    stop(): Promise<void>;
}

/**
 * The worker's code, CommonJS, run with `eval` so it needs no loader whether the daemon runs from
 * `dist/` or from TypeScript. Its page cache is small: a checkpoint reads the WAL and writes the
 * database file without caching either.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
db.pragma('cache_size = 16');
let lastLog = -1;
let idleTicks = 0;
const checkpoint = () => {
    try {
        const [r] = db.pragma('wal_checkpoint(PASSIVE)');
        // Nothing written since the last tick and everything copied: idle.
        idleTicks = r.busy === 0 && r.log === r.checkpointed && r.log === lastLog ? idleTicks + 1 : 0;
        lastLog = r.log;
    } catch (err) {
        // SQLITE_BUSY: another checkpoint (the app's, a backup's) is running; the next tick retries.
        if (err.code !== 'SQLITE_BUSY') throw err;
        idleTicks = 0;
    }
    if (idleTicks >= workerData.idleTicks) {
        clearInterval(timer);
        db.close();
        parentPort.postMessage('idle');
        parentPort.close();
    }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => {
    clearInterval(timer);
    try {
        checkpoint();
    } finally {
        db.close();
        parentPort.close();
    }
});
`;

export interface WalCheckpointerOptions {
    intervalMs: number;
    /** The worker exits once nothing has been written for this long (a thread costs memory: an idle daemon holds none). */
    idleAfterMs: number;
    /** Called once if the worker stops on its own with an error (the caller falls back to automatic checkpoints). */
    onFailure: (err: Error) => void;
    /** Called once if the worker exits because the WAL has been idle for `idleAfterMs`. */
    onIdle: () => void;
}

/** Starts the worker for the database at `path`. */
export function startWalCheckpointer(path: string, options: WalCheckpointerOptions): WalCheckpointer {
    const { intervalMs, onFailure, onIdle } = options;
    const idleTicks = Math.max(1, Math.ceil(options.idleAfterMs / intervalMs));
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { path, intervalMs, idleTicks }, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
    // The timer keeps the worker alive; the worker must not keep the daemon alive.
    worker.unref();
    let stopping = false;
    let running = true;
    let idle = false;
    // An uncaught error is followed by an exit with code 1: one failure, reported once.
    let failed = false;
    const fail = (err: Error) => {
        if (stopping || failed) return;
        failed = true;
        onFailure(err);
    };
    worker.on('message', (message) => {
        if (message === 'idle') idle = true;
    });
    const exited = new Promise<void>((resolve) => {
        worker.once('error', fail);
        worker.once('exit', (code) => {
            running = false;
            if (code !== 0) fail(new Error(`the WAL checkpoint worker exited with code ${code}`));
            else if (idle && !stopping) onIdle();
            resolve();
        });
    });
    return {
        get running() {
            return running;
        },
        async stop() {
            stopping = true;
            // Until its last checkpoint is done and its connection closed.
            worker.ref();
            worker.postMessage('stop');
            await exited;
        },
    };
}
