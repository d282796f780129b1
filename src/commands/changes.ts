import type { DatabaseConfig } from '../config/schema.js';
import { openStore } from '../storage/openStore.js';
import type { ChangeQuery } from '../storage/store.js';

export interface ChangesOptions extends ChangeQuery {
    /** Keep reading: print each change as it commits, until interrupted. */
    follow: boolean;
    /** How often `follow` looks for new changes. @default 250 */
    pollMs?: number;
    /** Ends a `follow` (SIGINT/SIGTERM in the CLI); without one it runs until the process ends. */
    signal?: AbortSignal;
}

/** Exit code when `--after` is below what retention removed: the reader has missed changes and must resync. */
export const CHANGES_OFFSET_EXPIRED = 3;

/**
 * `nango-mirror changes --after <seq> [--follow]`: the change log as JSON lines, oldest first, read
 * from the database (the daemon may be running; only `database.*` of the config is read). Each line
 * is one change; its `seq` is the `--after` to resume from.
 */
export async function changesCommand(
    config: DatabaseConfig,
    options: ChangesOptions,
    write: (line: string) => Promise<void>,
    err: (line: string) => void = console.error,
): Promise<number> {
    const store = await openStore(config.database);
    try {
        await store.schema.checkReady();
        let after = options.after;
        for (;;) {
            const changes = await store.changes.readChanges({ ...options, after });
            // Rows first, then the bounds: a prune between the two is caught.
            const { prunedThrough } = await store.changes.changeBounds();
            if (after < prunedThrough) {
                err(`changes after ${after} were removed by retention (changes.retentionHours, changes.maxRows): resync what you keep from the mirror's tables, then read with --after ${prunedThrough}.`);
                return CHANGES_OFFSET_EXPIRED;
            }
            for (const change of changes) await write(JSON.stringify(change));
            if (changes.length > 0) after = changes[changes.length - 1]!.seq;
            if (changes.length === options.limit) continue;
            if (!options.follow || options.signal?.aborted) return 0;
            await sleep(options.pollMs ?? 250, options.signal);
            if (options.signal?.aborted) return 0;
        }
    } finally {
        await store.close();
    }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
        const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', done, { once: true });
    });
}
