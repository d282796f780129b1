import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * The nice value of the daemon's helper threads (the page worker, SQLite's checkpoint worker): the
 * main thread (nice 0) commits pages and answers webhooks, and on a machine with fewer free cores
 * than the daemon has busy threads, a helper at nice 10 gets about a tenth of a core the main thread
 * also wants (Linux's weights: 110 against 1024). Measured on the SQLite ingest bench (2 cores, the
 * fake Nango beside it): the main thread waited for a core 0.45–1.12 s a 200,000-record pull with
 * the helpers at nice 0, 0.19–0.30 s at 10.
 */
export const HELPER_THREAD_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority to `nice` (Linux gives each thread its own nice
 * value; os.setPriority with a thread's id sets that thread's alone). Best effort: where there is
 * no /proc/thread-self (not Linux) nothing changes and false is returned.
 */
export function lowerThreadPriority(nice: number = HELPER_THREAD_NICE): boolean {
    try {
        const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
        if (!Number.isInteger(tid) || tid <= 0) return false;
        setPriority(tid, nice);
        return true;
    } catch {
        return false;
    }
}
