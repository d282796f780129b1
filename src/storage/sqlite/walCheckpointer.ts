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
 *
 * Behind a writer that never pauses (a long pull) the copy is never whole when the writer's next
 * transaction begins, so the WAL never starts over: it held the whole pull (1.3 GB for a
 * 1,000,000-record pull), and each commit extended the file (new pages for the filesystem to
 * place) instead of writing over pages it already had. So once the WAL passes `restartFrames`
 * the worker says so, and the writer waits before its next transaction (`catchUp`) while the
 * worker copies the rest; that transaction then starts the WAL over. Measured on the scale bench
 * (1,000,000 records of ~1 KB, SQLite): the pull took 8.9–9.3 s against 11.0–11.1 s (commits
 * 7.1–7.2 s against 9.5 s), the WAL's file peaked at 300–320 MB against 1.3 GB; each wait cost
 * 7–180 ms (SQLite fsyncs the database file before the WAL may start over).
 */
export interface WalCheckpointer {
    /** False once the worker has exited, on its own (idle, or failed) or stopped. */
    readonly running: boolean;
    /**
     * True once the WAL has grown past `restartFrames` (the worker said so at a tick) and until a
     * catch-up has answered: a writer that never pauses should `catchUp()` before its next transaction.
     */
    readonly restartWanted: boolean;
    /**
     * Resolves once the worker has copied the whole WAL and found nothing more committed meanwhile
     * (true: the next transaction on the writer's connection starts the WAL over, unless an app's
     * read transaction is open at that moment), or has given up after `catchUpLimitMs` (false: an
     * open read holds the copy back, or the daemon's other writes kept coming; the worker asks
     * again after `quietAfterRefusalMs`), or has exited. A second call while one waits shares its answer.
     */
    catchUp(): Promise<boolean>;
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
/** 'restart_wanted' was sent and not answered yet. */
let wanted = false;
/** A writer waits for a whole copy (catch_up) since then; the retry's timer. */
let askedAt;
let retry;
/**
 * After a catch-up that an open read held back, the writer is not asked again before this: a long
 * read of the app's would otherwise cost the pull a catch-up's limit every tick.
 */
let quietUntil = 0;
const checkpoint = () => {
    try {
        const [r] = db.pragma('wal_checkpoint(PASSIVE)');
        // Nothing written since the last tick and everything copied: idle.
        idleTicks = r.busy === 0 && r.log === r.checkpointed && r.log === lastLog ? idleTicks + 1 : 0;
        lastLog = r.log;
        if (!wanted && r.log >= workerData.restartFrames && performance.now() >= quietUntil) {
            wanted = true;
            parentPort.postMessage('restart_wanted');
        } else if (wanted && askedAt === undefined && r.log < workerData.restartFrames) {
            // The WAL started over without a catch-up (a write after a whole copy, once the pull
            // ended): the next pull need not wait for one.
            wanted = false;
            parentPort.postMessage('restart_not_wanted');
        }
        return r;
    } catch (err) {
        // SQLITE_BUSY: another checkpoint (the app's, a backup's) is running; the next tick retries.
        if (err.code !== 'SQLITE_BUSY') throw err;
        idleTicks = 0;
        return undefined;
    }
};
/** The writer waits and writes nothing meanwhile: copy what is left, and say whether the copy is whole. */
const catchUp = () => {
    retry = undefined;
    const r = checkpoint();
    let whole = r !== undefined && r.log === r.checkpointed;
    if (whole) {
        // A checkpoint reports the WAL's length as it was when it began: the daemon's other writes
        // (a webhook's request, a key's state) may have committed while it copied. Whole means a
        // second look finds nothing more: it copies nothing and returns at once. A write after it
        // starts the WAL over itself, as the pull's next page would.
        const again = checkpoint();
        whole = again !== undefined && again.log === r.log && again.checkpointed === r.log;
    }
    // Not whole: the daemon is still writing, or an open read of the app's (or another checkpoint)
    // holds the copy back. Try again shortly, then let the writer go on past the bound.
    if (!whole && performance.now() - askedAt < workerData.catchUpLimitMs) {
        retry = setTimeout(catchUp, 2);
        return;
    }
    askedAt = undefined;
    wanted = false;
    if (!whole) quietUntil = performance.now() + workerData.quietAfterRefusalMs;
    parentPort.postMessage(whole ? 'caught_up' : 'not_caught_up');
};
const tick = () => {
    if (askedAt !== undefined) return;
    checkpoint();
    if (idleTicks >= workerData.idleTicks) {
        clearInterval(timer);
        db.close();
        parentPort.postMessage('idle');
        parentPort.close();
    }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (message) => {
    if (message === 'catch_up') {
        askedAt = performance.now();
        catchUp();
        return;
    }
    clearInterval(timer);
    clearTimeout(retry);
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
    /** WAL frames (pages) past which the worker asks the writer to let the copy catch up. */
    restartFrames: number;
    /** How long a catch-up keeps trying (every 2 ms) while the copy cannot be made whole. */
    catchUpLimitMs: number;
    /** After a catch-up that could not make the copy whole, how long before the writer is asked again. */
    quietAfterRefusalMs: number;
}

/** Starts the worker for the database at `path`. */
export function startWalCheckpointer(path: string, options: WalCheckpointerOptions): WalCheckpointer {
    const { intervalMs, onFailure, onIdle, restartFrames, catchUpLimitMs, quietAfterRefusalMs } = options;
    const idleTicks = Math.max(1, Math.ceil(options.idleAfterMs / intervalMs));
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { path, intervalMs, idleTicks, restartFrames, catchUpLimitMs, quietAfterRefusalMs }, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
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
    let restartWanted = false;
    let waiting: { answer: Promise<boolean>; resolve: (whole: boolean) => void } | undefined;
    const answered = (whole: boolean) => {
        const w = waiting;
        waiting = undefined;
        w?.resolve(whole);
    };
    worker.on('message', (message) => {
        if (message === 'idle') idle = true;
        else if (message === 'restart_wanted') restartWanted = true;
        else if (message === 'restart_not_wanted') restartWanted = false;
        else if (message === 'caught_up' || message === 'not_caught_up') answered(message === 'caught_up');
    });
    const exited = new Promise<void>((resolve) => {
        worker.once('error', fail);
        worker.once('exit', (code) => {
            running = false;
            answered(false);
            if (code !== 0) fail(new Error(`the WAL checkpoint worker exited with code ${code}`));
            else if (idle && !stopping) onIdle();
            resolve();
        });
    });
    return {
        get running() {
            return running;
        },
        get restartWanted() {
            // Also while a catch-up waits: every writer waits for it.
            return (restartWanted || waiting !== undefined) && running;
        },
        catchUp() {
            restartWanted = false;
            if (!running || stopping) return Promise.resolve(false);
            if (waiting) return waiting.answer;
            let resolve!: (whole: boolean) => void;
            const answer = new Promise<boolean>((r) => (resolve = r));
            waiting = { answer, resolve };
            worker.postMessage('catch_up');
            return answer;
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
