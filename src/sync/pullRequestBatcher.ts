import type { PullRequests } from '../storage/store.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import type { SyncKey } from '../domain/syncKey.js';

/**
 * Group commit for pull requests. Every webhook must be durable before its 2xx, and a durable
 * SQLite commit costs an fsync; webhooks that arrive together share one transaction instead of
 * queueing behind one fsync each.
 */
export interface PullRequestBatcher {
    /**
     * Resolves once the request is stored; rejects if the store failed. `onCommitted`: once it is
     * committed and a pull would see it, maybe before it is durable (PullRequests.requestPulls).
     */
    store(keys: SyncKey[], onCommitted?: () => void): Promise<void>;
}

interface Waiting {
    keys: SyncKey[];
    onCommitted: (() => void) | undefined;
    resolve: () => void;
    reject: (err: unknown) => void;
}

export function createPullRequestBatcher(store: Pick<PullRequests, 'requestPulls'>): PullRequestBatcher {
    let waiting: Waiting[] = [];
    let scheduled = false;

    // Batches do not wait for each other: the next one commits while the last one's fsync runs
    // (SQLite then shares that fsync's successor; Postgres runs them on separate connections).
    async function storeBatch(batch: Waiting[]): Promise<void> {
        try {
            await store.requestPulls(
                batch.flatMap((w) => w.keys),
                dateToMicroIso(new Date()),
                () => {
                    for (const w of batch) w.onCommitted?.();
                },
            );
            for (const w of batch) w.resolve();
        } catch (err) {
            if (batch.length === 1) return batch[0]!.reject(err);
            // One request the database refuses must not fail the others that shared its
            // transaction: store each on its own, so only the bad one gets the error.
            for (const w of batch) {
                await store.requestPulls(w.keys, dateToMicroIso(new Date()), w.onCommitted).then(w.resolve, w.reject);
            }
        }
    }

    return {
        store(keys, onCommitted) {
            return new Promise<void>((resolve, reject) => {
                waiting.push({ keys, onCommitted, resolve, reject });
                if (scheduled) return;
                scheduled = true;
                // setImmediate: let every request already read in this turn of the loop join the batch.
                setImmediate(() => {
                    scheduled = false;
                    const batch = waiting;
                    waiting = [];
                    void storeBatch(batch);
                });
            });
        },
    };
}
