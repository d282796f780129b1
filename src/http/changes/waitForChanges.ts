import type { ChangeLog, ChangeRow } from '../../storage/store.js';
import type { ChangesRequest } from './changesQuery.js';

export interface ChangeFeedDeps {
    changes: Pick<ChangeLog, 'readChanges' | 'changeBounds'>;
    /**
     * Subscribes to this daemon's commits (pages, sweeps): a waiting reader looks again at once.
     * Returns the unsubscribe.
     */
    onCommit?: (wake: () => void) => () => void;
    /** How often a waiting reader looks again anyway: what other daemons sharing the database commit. @default 250 */
    pollMs?: number;
}

export type ChangesAnswer =
    /** `after` is below what retention removed: changes after it may be gone; resync, then read from `prunedThrough`. */
    | { expired: true; prunedThrough: number }
    | { expired: false; changes: ChangeRow[]; latest: number };

/**
 * Changes after `request.after`; when there are none yet, waits up to `request.waitMs` for one to
 * commit (or for `signal`: the client left, the daemon stops) and answers as soon as one does.
 */
export async function waitForChanges(deps: ChangeFeedDeps, request: ChangesRequest, signal: AbortSignal): Promise<ChangesAnswer> {
    const deadline = Date.now() + request.waitMs;
    const pollMs = deps.pollMs ?? 250;
    for (;;) {
        // Rows first, then the bounds: a prune between the two is seen, and answered 410.
        const changes = await deps.changes.readChanges(request);
        const { prunedThrough, latest } = await deps.changes.changeBounds();
        if (request.after < prunedThrough) return { expired: true, prunedThrough };
        const left = deadline - Date.now();
        if (changes.length > 0 || left <= 0 || signal.aborted) return { expired: false, changes, latest };
        await nextLook(deps, Math.min(pollMs, left), signal);
    }
}

/** Resolves after `ms`, at this daemon's next commit, or when `signal` aborts, whichever comes first. */
function nextLook(deps: ChangeFeedDeps, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        const done = () => {
            clearTimeout(timer);
            unsubscribe?.();
            signal.removeEventListener('abort', done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        const unsubscribe = deps.onCommit?.(done);
        signal.addEventListener('abort', done, { once: true });
    });
}

/**
 * `onCommit` for many waiting readers at once from the daemon's `pageCommitted` event: one listener,
 * and each waiter woken once (an EventEmitter listener per long poll would pile up).
 */
export function commitWakers(subscribe: (listener: () => void) => void): (wake: () => void) => () => void {
    const waiting = new Set<() => void>();
    subscribe(() => {
        if (waiting.size === 0) return;
        const woken = [...waiting];
        waiting.clear();
        for (const wake of woken) wake();
    });
    return (wake) => {
        waiting.add(wake);
        return () => waiting.delete(wake);
    };
}
