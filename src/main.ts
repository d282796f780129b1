import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { signingKeys } from './config/load.js';
import type { Config } from './config/schema.js';
import { viewSpecsFromConfig } from './config/viewSpecs.js';
import { createDaemonEvents, type DaemonEvents } from './domain/daemonEvents.js';
import { dateToMicroIso } from './domain/timestamps.js';
import { commitWakers } from './http/changes/waitForChanges.js';
import { createServers } from './http/createServer.js';
import { createDaemonHealth, type DaemonHealth } from './lib/daemonHealth.js';
import { createLogger } from './lib/logger.js';
import { createReleasers } from './lib/releasers.js';
import { createMetrics } from './metrics/createMetrics.js';
import { createRateLimitGate } from './nango/rateLimitGate.js';
import { createSyncStatusClient } from './nango/syncStatus.js';
import { createRateBudget, type RateLimitReading } from './nango/rateBudget.js';
import { createNotifier, type Notifier, type NotifierTuning } from './notify/notifier.js';
import { openStore } from './storage/openStore.js';
import type { Store } from './storage/store.js';
import { createPuller } from './sync/createPuller.js';
import { createDaemonDiscovery, discoverAtStartup } from './sync/discover.js';
import { createTypedViews } from './sync/typedViews.js';
import { createDiscoveryClient } from './nango/discovery.js';
import type { SyncKey } from './domain/syncKey.js';
import { createPullRequestBatcher } from './sync/pullRequestBatcher.js';
import { createPullScheduler, type PullScheduler } from './sync/pullScheduler.js';
import { createReconciler, type Reconciler } from './sync/reconcile.js';
import { createChangeRetention } from './sync/changeRetention.js';

export interface Daemon {
    /** Base URL of the public listener (webhook path, health), e.g. `http://127.0.0.1:8080`. */
    url: string;
    port: number;
    /** Base URL of the operator listener (status page, `/status.json`, `/metrics`, admin API), e.g. `http://127.0.0.1:9090`. */
    adminUrl: string;
    adminPort: number;
    store: Store;
    scheduler: PullScheduler;
    reconciler: Reconciler;
    health: DaemonHealth;
    events: DaemonEvents;
    /** Delivers `notify.url` notices from the change log; undefined without `notify.url` (`notify.pgChannel` is sent by the page transactions). */
    notifier: Notifier | undefined;
    logger: Logger;
    /** This daemon's Prometheus registry (served at /metrics). */
    metrics: Registry;
    /** Stops accepting, lets a page in flight commit or roll back whole, closes the database. Safe to call twice. */
    stop(): Promise<void>;
}

export interface DaemonOptions {
    logger?: Logger;
    /** Listen to what the daemon does (tests, embedding); one is made if not given. */
    events?: DaemonEvents;
    /** How long stop() waits for pulls in flight before closing anyway. @default 8000 */
    stopTimeoutMs?: number;
    /** Internal knobs of the notifier (tests make its retries fast); not config. */
    notify?: NotifierTuning;
    /** Internal knob: the clock slack reconcile allows Nango's `finishedAt` (planReconcile.ts); tests set 0. */
    finishedAtSlackMs?: number;
    /** Internal knob: how long a pull holds its slot while others wait (pullScheduler.ts); tests shorten it. */
    pullTurnMs?: number;
    /** Internal knob: how often the scheduler looks for stored, due requests (pullScheduler.ts); tests lengthen it. @default 1000 */
    duePollMs?: number;
    /** Internal knob: a webhook naming a model without a typed view reads the scripts config at most once per this many ms. @default 30000 */
    viewsRefreshIntervalMs?: number;
}

/**
 * The composition root: config → logger → database + migrations → scheduler → HTTP → reconcile.
 * Each resource's release is added as it is acquired; stop() and a failed start release the same
 * list, last acquired first.
 */
export async function startDaemon(config: Config, options: DaemonOptions = {}): Promise<Daemon> {
    const logger = options.logger ?? createLogger(config.logLevel);
    const releasers = createReleasers();
    const releaseAll = () => releasers.releaseAll((name, err) => logger.warn({ err, resource: name }, 'could not release a resource at shutdown'));
    try {
        // Each running pull holds a connection (its advisory lock); webhooks, polling and the
        // notifier share the rest. Half stay open, ready for a burst of webhooks.
        const poolSize = config.sync.concurrency * 2 + 4;
        const store = await openStore(config.database, { size: poolSize, keepOpen: Math.ceil(poolSize / 2), notifyChannel: config.notify.pgChannel });
        releasers.add('database', () => store.close());
        await store.schema.migrate();
        const holder = `${hostname()}:${process.pid}`;
        await store.writerLock?.acquire(holder);
        releasers.add('leases', () => store.leases.releaseLeases(holder));
        // changes.enabled is the database's: the triggers and the page writer read it there.
        await store.changes.setChangeLogEnabled(config.changes.enabled);
        const retention = createChangeRetention({ changes: store.changes, logger, retentionHours: config.changes.retentionHours, maxRows: config.changes.maxRows });
        releasers.add('change log retention', () => retention.stop());
        const { views, indexes } = viewSpecsFromConfig(config.models);
        await store.schema.applyViews(views, indexes);
        if (views.length + indexes.length > 0) logger.info({ views: views.map((v) => v.name), indexes: indexes.length }, 'typed views and indexes are in place');
        const resumed = await store.schema.recoverInterruptedPulls(dateToMicroIso(new Date()));
        if (resumed > 0) logger.info({ keys: resumed }, 'resuming pulls interrupted by the last stop');

        const health = createDaemonHealth(logger);
        const events = options.events ?? createDaemonEvents();
        // One bucket per Nango account: a 429 met by the pulls or by discovery holds back both.
        const gate = createRateLimitGate();
        gate.onClose((waitMs) => events.emit('rateLimited', { waitMs }));
        // What every answer's X-RateLimit-* headers say: background pulls leave the reserve to the app.
        const budget = createRateBudget({ reserve: config.sync.rateLimitReserve });
        const observe = (reading: RateLimitReading) => budget.observe(reading);
        const puller = createPuller({ nango: config.nango, sync: config.sync, sessions: store.pulls, logger, gate, events, onAuthResult: (ok) => health.onNangoAuth(ok), onRateLimitReading: observe });
        releasers.add('page worker', () => puller.close());
        const scheduler = createPullScheduler({
            keys: store.keys,
            logger,
            concurrency: config.sync.concurrency,
            budget,
            ...(options.pullTurnMs === undefined ? {} : { turnMs: options.pullTurnMs }),
            ...(options.duePollMs === undefined ? {} : { duePollMs: options.duePollMs }),
            pull: (key, signal, reason, turn) => puller.pull(key, signal, reason, turn),
        });
        const discoveryAbort = new AbortController();
        // Discovery and the sync status share the pulls' gate: one rate-limit bucket per Nango account.
        // Both are background requests: they wait while the budget is inside its reserve.
        const nangoClient = {
            host: config.nango.host,
            apiKey: config.nango.apiKey,
            timeoutMs: config.sync.requestTimeoutSeconds * 1000,
            retry: config.sync.retry,
            gate,
            logger,
            onRateLimitReading: observe,
            beforeRequest: (signal: AbortSignal | undefined) => budget.waitForBackground(signal),
            onResponse: (status: number | 'network_error', reason: string | undefined) => events.emit('nangoResponse', { status, reason: reason ?? 'other' }),
        };
        const discover = config.sync.discover
            ? createDaemonDiscovery({ ...nangoClient, store: store.requests, allowList: config.models, events, signal: discoveryAbort.signal })
            : undefined;
        // The typed views from Nango's schemas: a background request too, through the same gate and budget.
        const typedViews = config.sync.views.auto
            ? createTypedViews({
                  client: createDiscoveryClient({ ...nangoClient, onResponse: (status) => events.emit('nangoResponse', { status, reason: 'discovery' }) }),
                  schema: store.schema,
                  logger,
                  models: config.models,
                  prefix: config.sync.views.prefix,
                  minIntervalMs: options.viewsRefreshIntervalMs ?? 30_000,
                  signal: discoveryAbort.signal,
              })
            : undefined;
        if (!typedViews) {
            // Off: drop the views an earlier start made.
            const dropped = await store.schema.applyGeneratedViews([], []);
            if (dropped.dropped.length > 0) logger.info({ dropped: dropped.dropped }, 'sync.views.auto is off: generated views dropped');
        }
        // The notifier is made below; the lag gauges read it at scrape time.
        const made: { notifier?: Notifier } = {};
        const metrics = createMetrics({ events, keys: store.keys, budget, registry: new Registry(), noticeLag: async () => made.notifier?.lag() });
        releasers.add('metrics', () => metrics.close());
        const syncStatus = createSyncStatusClient(nangoClient);
        const reconciler = createReconciler({
            keys: store.keys,
            leases: store.leases,
            requests: store.requests,
            syncStatus,
            fullIntervalMs: config.sync.fullReconcileIntervalSeconds * 1000,
            purgeDeletedConnectionsAfterMs: config.sync.purgeDeletedConnectionsAfterHours * 3_600_000,
            ...(options.finishedAtSlackMs === undefined ? {} : { finishedAtSlackMs: options.finishedAtSlackMs }),
            scheduler,
            logger,
            holder,
            allowList: config.models,
            events,
            intervalMs: config.sync.reconcileIntervalSeconds * 1000,
            ...(discover ? { discover } : {}),
            ...(typedViews ? { refreshViews: () => typedViews.refresh() } : {}),
        });
        const notifier = createNotifier(
            config.notify,
            {
                logger,
                events,
                changes: store.changes,
                keys: store.keys,
                // SQLite has one daemon per file (the writer lock); replicas on Postgres take turns by lease.
                ...(store.writerLock ? {} : { lease: { leases: store.leases, holder } }),
            },
            options.notify,
        );
        // Pulls in flight drain before the notifier stops (it delivers meanwhile), and it stops
        // retrying before its NOTIFY connection and the store close.
        if (notifier) made.notifier = notifier;
        if (notifier) releasers.add('notifier', () => notifier.stop());
        const feedStopping = new AbortController();
        const handlers = createServers({
            webhookPath: config.server.webhookPath,
            signingKeys: signingKeys(config),
            acceptLegacySignature: config.nango.acceptLegacySignature,
            maxBodyBytes: config.server.maxBodyBytes,
            allowList: config.models,
            requests: store.requests,
            keys: store.keys,
            schema: store.schema,
            pullRequests: createPullRequestBatcher(store.requests),
            scheduler,
            health,
            events,
            logger,
            registry: metrics.registry,
            adminToken: config.admin.token,
            changeFeed: { changes: store.changes, onCommit: commitWakers((wake) => events.on('pageCommitted', wake)), stopping: feedStopping.signal },
            ...(typedViews ? { onPullKeys: (keys: readonly SyncKey[]) => typedViews.notice(keys) } : {}),
        });
        // Each listener's connections are closed (after a second's grace) once the pulls have drained;
        // a failed start closes what was opened.
        const listeners: Array<{ server: Server; closed?: Promise<void> }> = [];
        const serve = async (name: string, handler: RequestListener, key: string, port: number, host: string) => {
            const listener: { server: Server; closed?: Promise<void> } = { server: await listen(handler, key, port, host) };
            listeners.push(listener);
            releasers.add(`${name} connections`, async () => {
                await Promise.race([listener.closed ?? closeServer(listener.server), delay(1000)]);
                listener.server.closeAllConnections();
            });
            return listener.server;
        };
        const server = await serve('HTTP', handlers.public, 'server.port', config.server.port, config.server.host);
        const adminServer = await serve('admin HTTP', handlers.admin, 'server.adminPort', config.server.adminPort, config.server.adminHost);
        // First at shutdown: long polls on /changes are answered with what there is, not cut off.
        releasers.add('change feed readers', () => feedStopping.abort());
        const timeout = options.stopTimeoutMs ?? 8000;
        releasers.add('pulls', async () => {
            const drained = await Promise.race([scheduler.stop().then(() => true), delay(timeout).then(() => false)]);
            if (!drained) logger.warn({ timeoutMs: timeout }, 'pulls still running at shutdown; closing anyway (their pages roll back whole)');
        });
        releasers.add('reconcile and discovery', () => {
            discoveryAbort.abort();
            typedViews?.stop();
            reconciler.stop();
        });
        // First of all at shutdown: no new connections (open ones are answered until closed above).
        releasers.add('HTTP listeners', () => {
            for (const listener of listeners.toReversed()) listener.closed = closeServer(listener.server);
        });
        const port = (server.address() as AddressInfo).port;
        const adminPort = (adminServer.address() as AddressInfo).port;
        if (!config.admin.token && !isLoopback(config.server.adminHost)) {
            logger.warn(
                { adminHost: config.server.adminHost, adminPort },
                'server.adminHost is not a loopback address and admin.token is not set: the status page and /status.json (every connection id, model and last error) and /metrics answer anyone who can reach this address. Set admin.token, or keep server.adminHost on 127.0.0.1.',
            );
        }
        notifier?.start();
        retention.start();
        scheduler.start();
        reconciler.start();
        // With the timer on, its first pass (now) reads the schemas; with it off, once here.
        if (typedViews && config.sync.reconcileIntervalSeconds === 0) {
            typedViews.refresh().catch((err: unknown) => {
                if (!discoveryAbort.signal.aborted) logger.warn({ err }, "could not read Nango's scripts config at start-up; the typed views are left as they are");
            });
        }
        // With the timer on, its first pass (now) discovers; with it off, discover once here.
        if (discover && config.sync.reconcileIntervalSeconds === 0) {
            void discoverAtStartup({
                discover: () => discover().then(() => scheduler.wakeDue({ drain: true })),
                logger,
                delayMs: config.sync.retry.failedPullDelayMs,
                maxDelayMs: config.sync.retry.failedPullMaxDelayMs,
                signal: discoveryAbort.signal,
            });
        }
        logger.info({ port, host: config.server.host, adminPort, adminHost: config.server.adminHost, webhookPath: config.server.webhookPath, database: describeDatabase(config.database.url) }, 'nango-mirror is running');

        let stopping: Promise<void> | undefined;
        return {
            url: baseUrl(config.server.host, port),
            port,
            adminUrl: baseUrl(config.server.adminHost, adminPort),
            adminPort,
            store,
            scheduler,
            reconciler,
            health,
            events,
            notifier,
            logger,
            metrics: metrics.registry,
            stop() {
                stopping ??= (async () => {
                    logger.info('stopping');
                    await releaseAll();
                    logger.info('stopped');
                })();
                return stopping;
            },
        };
    } catch (err) {
        await releaseAll();
        throw err;
    }
}

function listen(handler: RequestListener, key: string, port: number, host: string): Promise<Server> {
    return new Promise((resolve, reject) => {
        // A deep accept queue: a burst of webhooks (many syncs finishing at once) must not be reset.
        const server = createHttpServer(handler).listen({ port, host, backlog: 2048 });
        server.once('listening', () => resolve(server));
        server.once('error', (err: NodeJS.ErrnoException) => {
            if (err.code === 'EADDRINUSE') reject(new Error(`${key}: ${host}:${port} is already in use; choose another port.`, { cause: err }));
            else reject(err);
        });
    });
}

/** Where a client on this host reaches a listener (a wildcard address through loopback). */
function baseUrl(listenHost: string, port: number): string {
    const host = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `localhost`, 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z). */
export function isLoopback(host: string): boolean {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function closeServer(server: Server): Promise<void> {
    return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
    });
}

function delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The database URL without a password, for the start-up log line. */
function describeDatabase(url: string): string {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
