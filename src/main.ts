import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { signingKeys } from './config/load.js';
import type { Config } from './config/schema.js';
import { createServer } from './http/createServer.js';
import { adminRouter } from './http/routes/admin.js';
import { metricsRouter } from './http/routes/getMetrics.js';
import { statusPageRouter } from './http/routes/getStatusPage.js';
import { createDaemonEvents, type DaemonEvents } from './lib/daemonEvents.js';
import { createDaemonHealth, type DaemonHealth } from './lib/daemonHealth.js';
import { createLogger } from './lib/logger.js';
import { createNotifier, type Notifier, type NotifierTuning } from './notify/notifier.js';
import { createMetrics } from './metrics/createMetrics.js';
import type { MirrorStore } from './storage/mirrorStore.js';
import type { PageSource } from './sync/pageSource.js';
import { openStore } from './storage/openStore.js';
import { dateToMicroIso } from './storage/timestamps.js';
import { viewSpecsFromConfig } from './storage/viewSpecs.js';
import { createPullRequestBatcher } from './sync/pullRequestBatcher.js';
import { createPullScheduler, type PullScheduler } from './sync/pullScheduler.js';
import { pullKey } from './sync/pullKey.js';
import { createWorkerPageSource } from './sync/workerPageSource.js';
import { createReconciler, type Reconciler } from './sync/reconcile.js';
import { createDaemonDiscovery, discoverAtStartup } from './sync/discover.js';

export interface Daemon {
    /** Base URL the HTTP server listens on, e.g. `http://127.0.0.1:8080`. */
    url: string;
    port: number;
    store: MirrorStore;
    scheduler: PullScheduler;
    reconciler: Reconciler;
    health: DaemonHealth;
    events: DaemonEvents;
    /** Tells the app about committed pages (`notify`); undefined when neither `notify.url` nor `notify.pgChannel` is set. */
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
}

/** The composition root: config → logger → database + migrations → scheduler → HTTP → reconcile. */
export async function startDaemon(config: Config, options: DaemonOptions = {}): Promise<Daemon> {
    const logger = options.logger ?? createLogger(config.logLevel);
    // Each running pull holds a connection (its advisory lock); webhooks, polling and the
    // notifier share the rest. Half stay open, ready for a burst of webhooks.
    const poolSize = config.sync.concurrency * 2 + 4;
    const store = openStore(config.database, { size: poolSize, keepOpen: Math.ceil(poolSize / 2) });
    let server: Server | undefined;
    let pages: PageSource | undefined;
    try {
        await store.migrate();
        const holder = `${hostname()}:${process.pid}`;
        await store.lockForDaemon(holder);
        const { views, indexes } = viewSpecsFromConfig(config.models);
        await store.applyViews(views, indexes);
        if (views.length + indexes.length > 0) logger.info({ views: views.map((v) => v.name), indexes: indexes.length }, 'typed views and indexes are in place');
        const resumed = await store.recoverInterruptedPulls(dateToMicroIso(new Date()));
        if (resumed > 0) logger.info({ keys: resumed }, 'resuming pulls interrupted by the last stop');

        const health = createDaemonHealth(logger);
        const events = options.events ?? createDaemonEvents();
        pages = createWorkerPageSource({
            host: config.nango.host,
            apiKey: config.nango.apiKey,
            timeoutMs: config.sync.requestTimeoutSeconds * 1000,
            retry: config.sync.retry,
            logger,
            onAuthResult: (ok) => health.onNangoAuth(ok),
            onRateLimited: (waitMs) => events.emit('rateLimited', { waitMs }),
            onResponse: (status) => events.emit('nangoResponse', { status }),
        });
        // Discovery's 429s hold back record pulls too: one rate-limit bucket per Nango account.
        pages.warmUp();
        const pageSourceForGate = pages;
        events.on('rateLimited', ({ waitMs }) => pageSourceForGate.holdBack(waitMs));
        const pullDeps = {
            store,
            pages,
            logger,
            pageSize: config.sync.pageSize,
            deletes: config.sync.deletes,
            failedPullDelayMs: config.sync.retry.failedPullDelayMs,
            failedPullMaxDelayMs: config.sync.retry.failedPullMaxDelayMs,
            events,
        };
        const scheduler = createPullScheduler({
            store,
            logger,
            concurrency: config.sync.concurrency,
            pull: (key, signal) => pullKey(pullDeps, key, signal),
        });
        const discoveryAbort = new AbortController();
        const discover = config.sync.discover
            ? createDaemonDiscovery({ host: config.nango.host, apiKey: config.nango.apiKey, timeoutMs: config.sync.requestTimeoutSeconds * 1000, retry: config.sync.retry, store, logger, allowList: config.models, events, signal: discoveryAbort.signal })
            : undefined;
        const metrics = createMetrics({ events, store, registry: new Registry() });
        const reconciler = createReconciler({ store, scheduler, logger, holder, allowList: config.models, events, intervalMs: config.sync.reconcileIntervalSeconds * 1000, ...(discover ? { discover } : {}) });
        const app = createServer({
            webhookPath: config.server.webhookPath,
            signingKeys: signingKeys(config),
            acceptLegacySignature: config.nango.acceptLegacySignature,
            maxBodyBytes: config.server.maxBodyBytes,
            allowList: config.models,
            store,
            pullRequests: createPullRequestBatcher(store),
            scheduler,
            health,
            events,
            logger,
            routers: [metricsRouter(metrics.registry), statusPageRouter({ store, registry: metrics.registry }), ...(config.admin.token ? [adminRouter({ token: config.admin.token, store, scheduler, logger })] : [])],
        });
        server = await listen(app, config.server.port, config.server.host);
        const port = (server.address() as AddressInfo).port;
        const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
        const notifier = createNotifier(config.notify, { store, logger, events }, options.notify);
        notifier?.start();
        scheduler.start();
        reconciler.start();
        // With the timer on, its first pass (now) discovers; with it off, discover once here.
        if (discover && config.sync.reconcileIntervalSeconds === 0) {
            void discoverAtStartup({
                discover: () => discover().then(() => scheduler.wakeDue()),
                logger,
                delayMs: config.sync.retry.failedPullDelayMs,
                maxDelayMs: config.sync.retry.failedPullMaxDelayMs,
                signal: discoveryAbort.signal,
            });
        }
        logger.info({ port, host: config.server.host, webhookPath: config.server.webhookPath, database: describeDatabase(config.database.url) }, 'nango-mirror is running');

        let stopping: Promise<void> | undefined;
        const httpServer = server;
        const pageSource = pages;
        return {
            url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
            port,
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
                    discoveryAbort.abort();
                    reconciler.stop();
                    metrics.close();
                    const closed = closeServer(httpServer);
                    const timeout = options.stopTimeoutMs ?? 8000;
                    const drained = await Promise.race([scheduler.stop().then(() => true), delay(timeout).then(() => false)]);
                    if (!drained) logger.warn({ timeoutMs: timeout }, 'pulls still running at shutdown; closing anyway (their pages roll back whole)');
                    // The notifier delivered while pulls drained; now it stops retrying (bounded, before the store closes).
                    await Promise.all([Promise.race([closed, delay(1000)]), notifier?.stop()]);
                    httpServer.closeAllConnections();
                    await pageSource.close();
                    await store.releaseLeases(holder).catch(() => undefined);
                    await store.close();
                    logger.info('stopped');
                })();
                return stopping;
            },
        };
    } catch (err) {
        server?.close();
        await pages?.close();
        await store.close();
        throw err;
    }
}

function listen(handler: RequestListener, port: number, host: string): Promise<Server> {
    return new Promise((resolve, reject) => {
        // A deep accept queue: a burst of webhooks (many syncs finishing at once) must not be reset.
        const server = createHttpServer(handler).listen({ port, host, backlog: 2048 });
        server.once('listening', () => resolve(server));
        server.once('error', (err: NodeJS.ErrnoException) => {
            if (err.code === 'EADDRINUSE') reject(new Error(`server.port: ${host}:${port} is already in use; choose another port.`, { cause: err }));
            else reject(err);
        });
    });
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
