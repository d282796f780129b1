import type { RequestListener } from 'node:http';
import express, { type Router } from 'express';
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

/**
 * The daemon's HTTP handler, without listen(). `POST <webhookPath>` goes straight to the webhook
 * route, a bare node:http handler (see postWebhook.ts for why); everything else is express.
 */
export function createServer(deps: ServerDeps): RequestListener {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    const receiveWebhook = postWebhook(deps);
    // As express routes: case-insensitive, a trailing slash and a query string allowed.
    const webhookPath = routePath(deps.webhookPath);
    app.all(deps.webhookPath, (req, res) => {
        res.setHeader('allow', 'POST');
        sendError(res, new HttpError(405, 'method_not_allowed', `Use POST for ${deps.webhookPath}, not ${req.method}.`));
    });
    app.get('/healthz', getHealthz());
    app.get('/readyz', getReadyz(deps.store, deps.health));
    for (const router of deps.routers ?? []) app.use(router);
    app.use(notFound());
    app.use(errorHandler(deps.logger));
    return (req, res) => {
        if (req.method === 'POST' && routePath(req.url ?? '') === webhookPath) return receiveWebhook(req, res);
        return app(req, res);
    };
}

function routePath(url: string): string {
    const path = url.split('?', 1)[0]!.toLowerCase();
    return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
