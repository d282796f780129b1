import type { RequestListener } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DaemonHealth } from '../lib/daemonHealth.js';
import type { KeyStates, PullRequests, Schema } from '../storage/store.js';
import type { PullScheduler } from '../sync/pullScheduler.js';
import { errorHandler, HttpError, notFound, sendError } from './httpError.js';
import { LOGIN_COOKIE, requireToken, tokenCheck, type TokenCheck } from './operatorAuth.js';
import { adminRouter } from './routes/admin.js';
import { changesRouter, type ChangesRouteDeps } from './routes/getChanges.js';
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
    /** `admin.token`: the admin API (`/admin/*`) is mounted only when set; with it, the status page and `/status.json` need it too. */
    adminToken?: string | undefined;
    /** `GET /changes` on the admin listener: the change log by offset, with long polling. */
    changeFeed: ChangesRouteDeps;
}

/** The daemon's two HTTP handlers, without listen(). */
export interface Servers {
    /** The port Nango reaches: `POST <webhookPath>`, `/healthz` and `/readyz`; anything else is a 404. */
    public: RequestListener;
    /** `server.adminPort`: the status page, `/status.json`, `/metrics`, the admin API, `/login`, `/healthz` and `/readyz`. */
    admin: RequestListener;
}

/**
 * Every route is mounted here. On the public handler, `POST <webhookPath>` goes straight to the
 * webhook route, a bare node:http handler (see postWebhook.ts for why); everything else is express.
 * The operator surfaces (which list connection ids and errors) are only on the admin handler.
 */
export function createServers(deps: ServerDeps): Servers {
    const publicApp = express();
    configure(publicApp);
    const receiveWebhook = postWebhook(deps);
    // As express routes: case-insensitive, a trailing slash and a query string allowed.
    const webhookPath = routePath(deps.webhookPath);
    publicApp.all(deps.webhookPath, (req, res) => {
        res.setHeader('allow', 'POST');
        sendError(res, new HttpError(405, 'method_not_allowed', `Use POST for ${deps.webhookPath}, not ${req.method}.`));
    });
    mountHealth(publicApp, deps);
    finish(publicApp, deps.logger);

    const adminApp = express();
    configure(adminApp);
    mountHealth(adminApp, deps);
    // No token needed: no label carries a connection id or a key, and Prometheus need not hold a
    // token that can also start resyncs (README: Metrics and status page).
    adminApp.use(metricsRouter(deps.registry));
    if (deps.adminToken) {
        const token = tokenCheck(deps.adminToken);
        adminApp.get('/login', loginRoute(token));
        adminApp.get(['/', '/status.json', '/changes'], requireToken(token.bearerOrCookieMatches, 'Send Authorization: Bearer <admin.token>, or open /login?token=<admin.token> once in the browser.'));
    }
    adminApp.use(statusPageRouter({ keys: deps.keys, registry: deps.registry }));
    adminApp.use(changesRouter(deps.changeFeed));
    if (deps.adminToken) adminApp.use(adminRouter({ token: deps.adminToken, requests: deps.requests, keys: deps.keys, scheduler: deps.scheduler, logger: deps.logger }));
    finish(adminApp, deps.logger);

    return {
        public: (req, res) => {
            if (req.method === 'POST' && routePath(req.url ?? '') === webhookPath) return receiveWebhook(req, res);
            return publicApp(req, res);
        },
        admin: adminApp,
    };
}

function configure(app: Express): void {
    app.disable('x-powered-by');
    app.set('etag', false);
}

function mountHealth(app: Express, deps: ServerDeps): void {
    app.get('/healthz', getHealthz());
    app.get('/readyz', getReadyz(deps.schema, deps.health));
}

function finish(app: Express, logger: Logger): void {
    app.use(notFound());
    app.use(errorHandler(logger));
}

/**
 * `GET /login?token=<admin.token>`: the browser's way in to the status page. A right token sets an
 * HttpOnly, SameSite=Strict cookie (a value derived from the token, not the token) and redirects to
 * `/`, so the token leaves the address bar; a wrong one is a 401.
 */
function loginRoute(token: TokenCheck): RequestHandler {
    return (req, res) => {
        const given = req.query['token'];
        if (typeof given !== 'string' || !token.matches(given)) {
            return sendError(res, new HttpError(401, 'unauthorized', 'Open /login?token=<admin.token>.'));
        }
        res.setHeader('set-cookie', `${LOGIN_COOKIE}=${token.cookieValue}; Path=/; HttpOnly; SameSite=Strict`);
        res.setHeader('cache-control', 'no-store');
        res.setHeader('referrer-policy', 'no-referrer');
        res.redirect(303, '/');
    };
}

function routePath(url: string): string {
    const path = url.split('?', 1)[0]!.toLowerCase();
    return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
