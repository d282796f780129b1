import express, { type Express, type Router } from 'express';
import type { Logger } from 'pino';
import type { DaemonHealth } from '../lib/daemonHealth.js';
import type { MirrorStore } from '../storage/mirrorStore.js';
import { errorHandler, HttpError, notFound, sendError } from './httpError.js';
import { getHealthz, getReadyz } from './routes/health.js';
import { postWebhook, type WebhookRouteDeps } from './routes/postWebhook.js';

export interface ServerDeps extends WebhookRouteDeps {
    webhookPath: string;
    store: MirrorStore;
    health: DaemonHealth;
    logger: Logger;
    /** More routes (metrics, status page, admin API), each built in its own module. */
    routers?: Router[];
}

/** The express app, without listen(): tests and the daemon bind it to a port themselves. */
export function createServer(deps: ServerDeps): Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.post(deps.webhookPath, ...postWebhook(deps));
    app.all(deps.webhookPath, (req, res) => {
        res.setHeader('allow', 'POST');
        sendError(res, new HttpError(405, 'method_not_allowed', `Use POST for ${deps.webhookPath}, not ${req.method}.`));
    });
    app.get('/healthz', getHealthz());
    app.get('/readyz', getReadyz(deps.store, deps.health));
    for (const router of deps.routers ?? []) app.use(router);
    app.use(notFound());
    app.use(errorHandler(deps.logger));
    return app;
}
