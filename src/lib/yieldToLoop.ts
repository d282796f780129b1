/**
 * Lets I/O and timers run before going on: work over every key (20,000 and more) on the main thread
 * runs in batches with this between them, so webhooks and scrapes never wait for all of it.
 */
export function yieldToLoop(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
}

/** Calls `yieldToLoop` once every `every` calls: for loops whose steps are too small to batch by hand. */
export function createPacer(every: number): () => Promise<void> | undefined {
    let steps = 0;
    return () => (++steps % every === 0 ? yieldToLoop() : undefined);
}

/** Runs `fn` on `items` a batch at a time, letting the event loop run between batches. */
export async function inBatches<T, R>(items: readonly T[], size: number, fn: (batch: T[]) => Promise<R>): Promise<R[]> {
    const results: R[] = [];
    for (let i = 0; i < items.length; i += size) {
        if (i > 0) await yieldToLoop();
        results.push(await fn(items.slice(i, i + size)));
    }
    return results;
}
