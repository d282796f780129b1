import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import type { SyncKey } from '../domain/syncKey.js';
import type { RateLimitGate } from '../nango/rateLimitGate.js';
import type { RateLimitReading } from '../nango/rateBudget.js';
import type { PullSessions } from '../storage/store.js';
import type { PageSource } from './pageSource.js';
import { pullKey, type PullOutcome, type PullTurn } from './pullKey.js';
import { createWorkerPageSource } from './workerPageSource.js';

export interface PullerDeps {
    nango: Pick<Config['nango'], 'host' | 'apiKey'>;
    sync: Pick<Config['sync'], 'requestTimeoutSeconds' | 'retry' | 'pageSize' | 'deletes' | 'pageWorkerIdleSeconds'>;
    sessions: PullSessions;
    logger: Logger;
    /** The daemon's 429 gate, shared with discovery; the CLI has none of its own to share. */
    gate?: RateLimitGate;
    events?: DaemonEvents;
    /** Told after every Nango answer whether the API key was accepted. */
    onAuthResult?: (ok: boolean) => void;
    /** Every answer's `X-RateLimit-*` headers (the daemon's API budget). */
    onRateLimitReading?: (reading: RateLimitReading) => void;
}

export interface Puller {
    /** Pulls one key from its stored cursor to the end (see pullKey); `reason` labels its requests. */
    pull(key: SyncKey, signal: AbortSignal, reason?: string, turn?: PullTurn): Promise<PullOutcome>;
    /** Where the pages come from: the page worker, started by the first pull, stopped after `sync.pageWorkerIdleSeconds` without one. */
    readonly pages: PageSource;
    close(): Promise<void>;
}

/** The pull as the daemon and the `sync`/`resync` commands run it: one page worker, the config's page size, deletes and backoff. */
export function createPuller(deps: PullerDeps): Puller {
    const { sync, events } = deps;
    const pages = createWorkerPageSource({
        host: deps.nango.host,
        apiKey: deps.nango.apiKey,
        timeoutMs: sync.requestTimeoutSeconds * 1000,
        retry: sync.retry,
        idleStopMs: sync.pageWorkerIdleSeconds * 1000,
        logger: deps.logger,
        ...(deps.gate ? { gate: deps.gate } : {}),
        ...(deps.onAuthResult ? { onAuthResult: deps.onAuthResult } : {}),
        ...(deps.onRateLimitReading ? { onRateLimitReading: deps.onRateLimitReading } : {}),
        ...(events ? { onResponse: (status: number | 'network_error', reason: string | undefined) => events.emit('nangoResponse', { status, reason: reason ?? 'pull' }) } : {}),
    });
    const pullDeps = {
        sessions: deps.sessions,
        pages,
        logger: deps.logger,
        pageSize: sync.pageSize,
        deletes: sync.deletes,
        failedPullBackoff: { baseDelayMs: sync.retry.failedPullDelayMs, maxDelayMs: sync.retry.failedPullMaxDelayMs },
        ...(events ? { events } : {}),
    };
    return {
        pull: (key, signal, reason, turn) => pullKey(pullDeps, key, signal, reason, turn),
        pages,
        close: () => pages.close(),
    };
}
