import type { RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DaemonHealth } from '../lib/daemonHealth.js';
import type { KeyStates, PullRequests, Schema } from '../storage/store.js';
import type { PullScheduler } from '../sync/pullScheduler.js';
import { errorHandler, HttpError, notFound, sendError } from './httpError.js';
import { adminRouter } from './routes/admin.js';
import { metricsRouter } from './routes/getMetrics.js';
import { statusPageRouter } from './routes/getStatusPage.js';
import { getHealthz, getReadyz } from './routes/health.js';
import { postWebhook, type WebhookRouteDeps } from './routes/postWebhook.js';

export interface ServerDeps extends WebhookRouteDeps {
    webhookPath: string;
    requests: WebhookRouteDeps['requests'] & Pick<PullRequests, 'requestPulls' | 'requestResync'>;
    keys: Pick<KeyStates, 'getKeyStatus' | 'listKeyPage' | 'summarizeKeys'>;
    schema: Pick<Schema, 'checkReady'>;
    scheduler: PullScheduler;
    health: DaemonHealth;
    logger: Logger;
    /** The daemon's Prometheus registry: `/metrics` and the status page's counters. */
    registry: Registry;
    /** `admin.token`: the admin API (`/admin/*`) is mounted only when set. */
    adminToken?: string | undefined;
}

/**
 * The daemon's HTTP handler, without listen(): every route is mounted here. `POST <webhookPath>`
 * goes straight to the webhook route, a bare node:http handler (see postWebhook.ts for why);
 * everything else is express.
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
    app.get('/readyz', getReadyz(deps.schema, deps.health));
    app.use(metricsRouter(deps.registry));
    app.use(statusPageRouter({ keys: deps.keys, registry: deps.registry }));
    if (deps.adminToken) app.use(adminRouter({ token: deps.adminToken, requests: deps.requests, keys: deps.keys, scheduler: deps.scheduler, logger: deps.logger }));
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
