import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { describeKey, type SyncKey } from '../domain/syncKey.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import { createLogger } from '../lib/logger.js';
import { openStore } from '../storage/openStore.js';
import { createPuller } from '../sync/createPuller.js';
import type { PullOutcome } from '../sync/pullKey.js';
import { waitForPull } from '../sync/waitForPull.js';

export interface RequestPullOptions {
    key: SyncKey;
    /** resync: forget the cursor and read from the start. */
    reset: boolean;
    /** With reset: rows the full read does not write are deleted at its end. */
    sweep: boolean;
    wait: boolean;
    /** @default 600000 */
    waitTimeoutMs?: number;
}

/**
 * `nango-mirror sync|resync`. The request is stored in the database, so a running daemon (any
 * replica) takes it; nothing here writes records while a daemon owns them. With no daemon — a
 * SQLite file nobody holds, or a Postgres key nobody is pulling — this process pulls it itself.
 */
export async function requestPullCommand(config: Config, options: RequestPullOptions, out: (line: string) => void = console.log): Promise<number> {
    const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
    const store = await openStore(config.database);
    const name = describeKey(options.key);
    try {
        await store.schema.migrate();
        const at = dateToMicroIso(new Date());
        if (options.reset) await store.requests.requestResync(options.key, options.sweep, at);
        else await store.requests.requestPulls([options.key], at);
        const requestSeq = (await store.keys.getKeyStatus(options.key, { counts: false }))?.requestSeq ?? 0;

        let daemonOwnsIt = false;
        try {
            // SQLite: refused while a daemon holds the file. Postgres has no writer lock: replicas share it.
            await store.writerLock?.acquire(`${hostname()}:${process.pid}`);
        } catch {
            daemonOwnsIt = true;
            out(`${options.reset ? 'Resync' : 'Pull'} of ${name} requested; the daemon that holds this SQLite file will pull it.`);
        }
        if (!daemonOwnsIt) {
            const puller = createPuller({ nango: config.nango, sync: config.sync, sessions: store.pulls, logger });
            let outcome: PullOutcome;
            try {
                outcome = await puller.pull(options.key, new AbortController().signal);
            } finally {
                await puller.close();
            }
            if (outcome.outcome === 'failed') {
                out(`Pull of ${name} failed: ${outcome.code}: ${outcome.error}`);
                return 1;
            }
            if (outcome.outcome === 'gone') {
                out(`Nango does not know ${name}'s connection (unknown_connection); the key is marked gone.`);
                return 1;
            }
            if (outcome.outcome === 'ok') {
                out(`Pulled ${name}: ${outcome.records} records in ${outcome.pages} pages.`);
                return 0;
            }
            out(`${name} is being pulled by a running daemon; the request is stored for it.`);
        }
        if (!options.wait) return 0;
        const waited = await waitForPull(store.keys, options.key, requestSeq, { timeoutMs: options.waitTimeoutMs ?? 600_000 });
        if (waited.ok) {
            out(`${name} is current (as of the request): ${waited.status.liveRows} live rows.`);
            return 0;
        }
        out(`${name}: ${waited.code}: ${waited.message}`);
        return 1;
    } finally {
        await store.close();
    }
}
