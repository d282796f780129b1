import type { Logger } from 'pino';
import type { DaemonEvents } from '../domain/daemonEvents.js';
import type { RetryPolicy } from '../nango/client.js';
import { createDiscoveryClient, type DiscoveryClient, type PublicConnection, type ScriptsConfigEntry, type ScriptsConfigSync } from '../nango/discovery.js';
import type { RateLimitGate } from '../nango/rateLimitGate.js';
import type { RateLimitReading } from '../nango/rateBudget.js';
import type { PullRequests } from '../storage/store.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import { isAllowed, type AllowEntry } from '../domain/allowList.js';
import { MODEL_NAME_PATTERN } from '../domain/nangoNames.js';
import { backoffDelay } from '../lib/backoff.js';
import { createPacer, inBatches } from '../lib/yieldToLoop.js';
import { connectionFromListing } from '../domain/connectionInfo.js';
import { BASE_VARIANT, keyString, type SyncKey } from '../domain/syncKey.js';


export interface DiscoverDeps {
    client: DiscoveryClient;
    store: Pick<PullRequests, 'seedKeys' | 'upsertConnections'>;
    logger: Logger;
    /** The `models` allow-list; empty mirrors every model. */
    allowList: readonly AllowEntry[];
    signal?: AbortSignal;
    /** Keys the mirror has (keyString): not seeded again. */
    known?: ReadonlySet<string>;
}

export interface DiscoveryResult {
    connections: number;
    /** Keys discovery found (after the allow-list), new or not. */
    keys: number;
    /** Keys that were new to the mirror and now have a pending pull. */
    added: number;
}

/**
 * Lists the connections and sync models in Nango and seeds a base-variant key for each pair, so
 * a fresh daemon backfills without waiting for webhooks. Variants come from the reconcile pass's
 * sync status (planReconcile.ts) and from webhooks: the scripts config does not say which exist.
 *
 * Which integrations: those the `models` allow-list names when it is set (the connections list
 * is asked for those only, `integrationId=a,b`), else every integration the connections list
 * returns. Which models: the `returns` of every sync of the connection's integration in
 * `GET /scripts/config`. Nango groups that list by provider, so when several integrations share
 * a provider each gets the models of all of them; a key for a model its connection does not sync
 * just pulls empty (`GET /records` answers an unknown model with no records).
 *
 * Existing keys are left alone: those in `known` are not written at all (a pass over 20,000 known
 * keys seeds nothing), and `seedKeys` inserts only new ones, so running it every pass never
 * duplicates a key nor re-requests a pull the reconcile pass is about to make anyway.
 */
export async function discoverKeys(deps: DiscoverDeps): Promise<DiscoveryResult> {
    const { client, logger, allowList, signal } = deps;
    const started = performance.now();
    const opts = signal ? { signal } : {};

    // Scripts config first: one request, and with no sync model in use the connections list
    // (possibly many pages of a shared rate limit) is not needed at all.
    const config = await client.getScriptsConfig(opts);
    const models = modelsByIntegration(config, logger);
    const integrationIds = allowList.length > 0 ? [...new Set(allowList.map((e) => e.providerConfigKey))] : undefined;
    const anyModelInUse = [...models.byKey.values(), ...models.byProvider.values()].some((set) =>
        [...set].some((model) => allowList.length === 0 || allowList.some((e) => e.model === model)),
    );
    if (!anyModelInUse) {
        logger.info({ integrations: config.length }, 'discovery: Nango has no sync model to mirror');
        return { connections: 0, keys: 0, added: 0 };
    }

    const connections = await client.listConnections({ ...opts, ...(integrationIds ? { integrationIds } : {}) });
    const keys = new Map<string, SyncKey>();
    // Every connection × model: the event loop runs between batches (20,000 keys at once held it ~50 ms).
    const pace = createPacer(500);
    for (const connection of connections) {
        await pace();
        for (const model of modelsOf(connection, models)) {
            const key: SyncKey = { providerConfigKey: connection.provider_config_key, connectionId: connection.connection_id, model, variant: BASE_VARIANT };
            if (isAllowed(key, allowList)) keys.set(keyString(key), key);
        }
    }
    signal?.throwIfAborted();
    const at = dateToMicroIso(new Date());
    // nango_connections: every listed connection, its tags and last_seen_at (a batch per turn of the
    // event loop, one transaction each: an account may list 20,000 connections).
    await inBatches(connections, 1000, (batch) => deps.store.upsertConnections(batch.map(connectionFromListing), at));
    signal?.throwIfAborted();
    const unknown: SyncKey[] = [];
    for (const [ks, key] of keys) {
        await pace();
        if (!deps.known?.has(ks)) unknown.push(key);
    }
    // A batch per turn of the event loop: a fresh daemon may discover tens of thousands of keys.
    const added = (await inBatches(unknown, 1000, (batch) => deps.store.seedKeys(batch, at))).reduce((a, b) => a + b, 0);
    const result = { connections: connections.length, keys: keys.size, added };
    logger.info({ ...result, durationMs: Math.round(performance.now() - started) }, `discovery found ${keys.size} keys, ${added} new`);
    return result;
}

interface ModelIndex {
    byKey: Map<string, Set<string>>;
    byProvider: Map<string, Set<string>>;
}

/**
 * The scripts config's syncs by integration key and by provider: Nango groups the entries by
 * provider (protocol §6.2), so an integration's syncs are under its own key, or under its
 * provider's entry when another integration of that provider named the entry.
 */
export interface SyncIndex {
    byKey: Map<string, ScriptsConfigSync[]>;
    byProvider: Map<string, ScriptsConfigSync[]>;
}

export function indexSyncs(config: readonly ScriptsConfigEntry[]): SyncIndex {
    const index: SyncIndex = { byKey: new Map(), byProvider: new Map() };
    const add = (map: Map<string, ScriptsConfigSync[]>, name: string, sync: ScriptsConfigSync) => {
        let list = map.get(name);
        if (!list) map.set(name, (list = []));
        list.push(sync);
    };
    for (const entry of config) {
        for (const sync of entry.syncs) {
            add(index.byKey, entry.providerConfigKey, sync);
            if (entry.provider) add(index.byProvider, entry.provider, sync);
        }
    }
    return index;
}

function modelsByIntegration(config: readonly ScriptsConfigEntry[], logger: Logger): ModelIndex {
    const syncs = indexSyncs(config);
    const models = (map: Map<string, ScriptsConfigSync[]>) =>
        new Map(
            [...map].map(([name, list]) => [
                name,
                new Set(
                    list.flatMap((sync) =>
                        sync.returns.filter((model) => {
                            if (MODEL_NAME_PATTERN.test(model)) return true;
                            if (map === syncs.byKey) logger.warn({ providerConfigKey: name, sync: sync.name, model }, 'discovery: skipping a model name GET /records does not accept');
                            return false;
                        }),
                    ),
                ),
            ]),
        );
    return { byKey: models(syncs.byKey), byProvider: models(syncs.byProvider) };
}

function modelsOf(connection: PublicConnection, index: ModelIndex): Set<string> {
    const out = new Set(index.byKey.get(connection.provider_config_key));
    for (const m of (connection.provider && index.byProvider.get(connection.provider)) || []) out.add(m);
    return out;
}

export interface StartupDiscoveryOptions {
    /** One discovery run (already bound to the client, the store and the allow-list). */
    discover: () => Promise<unknown>;
    logger: Logger;
    /** Delay before the first retry, doubled per failure up to `maxDelayMs`. */
    delayMs: number;
    maxDelayMs: number;
    /** Aborted at shutdown. */
    signal: AbortSignal;
}

/**
 * Start-up discovery for a daemon whose reconcile timer is off (with the timer on, the first
 * pass discovers): tried until it succeeds once, since no later pass would try again. Never
 * throws; failures are logged.
 */
export async function discoverAtStartup(options: StartupDiscoveryOptions): Promise<void> {
    const { signal, logger } = options;
    for (let failures = 0; !signal.aborted; ) {
        try {
            await options.discover();
            return;
        } catch (err) {
            if (signal.aborted) return;
            failures++;
            const delayMs = backoffDelay(failures, { baseDelayMs: options.delayMs, maxDelayMs: options.maxDelayMs });
            logger.warn({ err, retryInMs: delayMs }, 'discovery failed at start-up; webhooks and pulls go on, discovery retries');
            await new Promise<void>((resolve) => {
                const timer = setTimeout(done, delayMs);
                timer.unref();
                signal.addEventListener('abort', done, { once: true });
                function done() {
                    clearTimeout(timer);
                    signal.removeEventListener('abort', done);
                    resolve();
                }
            });
        }
    }
}

export interface DaemonDiscoveryOptions {
    host: string;
    apiKey: string;
    timeoutMs: number;
    retry: RetryPolicy;
    /** The daemon's 429 gate: discovery waits at it, and its 429s close it for the pulls too (one bucket per Nango account). */
    gate: RateLimitGate;
    store: Pick<PullRequests, 'seedKeys' | 'upsertConnections'>;
    logger: Logger;
    allowList: DiscoverDeps['allowList'];
    events: DaemonEvents;
    /** Aborted at shutdown: a discovery in flight stops without seeding. */
    signal: AbortSignal;
    /** Discovery is a background request: awaited before each (the API budget's reserve). */
    beforeRequest?: (signal: AbortSignal | undefined) => Promise<void>;
    onRateLimitReading?: (reading: RateLimitReading) => void;
}

/** Discovery as the daemon runs it, on the main thread, behind the daemon's rate-limit gate. */
export function createDaemonDiscovery(options: DaemonDiscoveryOptions): (known?: ReadonlySet<string>) => Promise<DiscoveryResult> {
    const { events, logger } = options;
    const client = createDiscoveryClient({
        host: options.host,
        apiKey: options.apiKey,
        timeoutMs: options.timeoutMs,
        retry: options.retry,
        gate: options.gate,
        logger,
        // No onAuthResult: a key without `environment:connections:list` gets 403 here while it
        // may read records fine, so discovery must not mark the API key as refused.
        onResponse: (status) => events.emit('nangoResponse', { status, reason: 'discovery' }),
        ...(options.beforeRequest ? { beforeRequest: options.beforeRequest } : {}),
        ...(options.onRateLimitReading ? { onRateLimitReading: options.onRateLimitReading } : {}),
    });
    return (known) =>
        discoverKeys({ client, store: options.store, logger, allowList: options.allowList, signal: options.signal, ...(known ? { known } : {}) }).catch((err: unknown) => {
            // Stopped mid-way: nothing seeded, nothing to report.
            if (options.signal.aborted) return { connections: 0, keys: 0, added: 0 };
            throw err;
        });
}
