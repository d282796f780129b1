import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ModelEntry } from '../../config/schema.js';
import type { DaemonEvents } from '../../lib/daemonEvents.js';
import type { MirrorStore } from '../../storage/mirrorStore.js';
import { dateToMicroIso } from '../../storage/timestamps.js';
import type { PullRequestBatcher } from '../../sync/pullRequestBatcher.js';
import type { PullScheduler } from '../../sync/pullScheduler.js';
import { describeKey } from '../../sync/syncKey.js';
import { classifyWebhook, type WebhookAction } from '../../webhooks/classifyWebhook.js';
import { HttpError, sendError, toHttpError } from '../httpError.js';
import { verifyWebhook } from '../verifyWebhook.js';

export interface WebhookRouteDeps {
    signingKeys: readonly string[];
    acceptLegacySignature: boolean;
    maxBodyBytes: number;
    allowList: readonly ModelEntry[];
    store: MirrorStore;
    /** Stores pull requests durably, many webhooks per transaction. */
    pullRequests: PullRequestBatcher;
    scheduler: PullScheduler;
    logger: Logger;
    events?: DaemonEvents;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `POST <webhookPath>`: 415 → 413 → 401 → 400, then the request is stored and only then
 * acknowledged. Nango never retries a 4xx, so a verified webhook that cannot be stored gets 503.
 */
export function postWebhook(deps: WebhookRouteDeps): Array<RequestHandler | express.ErrorRequestHandler> {
    const log = deps.logger.child({ route: 'webhook' });
    const readRaw = express.raw({ type: () => true, limit: deps.maxBodyBytes });

    const checkContentType: RequestHandler = (req, _res, next) => {
        const media = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (media !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(media)) {
            return next(new HttpError(415, 'unsupported_media_type', `Expected Content-Type application/json, got ${JSON.stringify(media || '(none)')}.`));
        }
        next();
    };

    const handle: RequestHandler = async (req, res) => {
        const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const verdict = verifyWebhook(raw, req.headers, { keys: deps.signingKeys, acceptLegacy: deps.acceptLegacySignature });
        if (!verdict.ok) {
            deps.events?.emit('webhook', { type: 'unknown', outcome: verdict.code });
            log.warn({ code: verdict.code, bytes: raw.length }, 'webhook rejected: bad signature');
            const message = verdict.code === 'missing_signature' ? 'The X-Nango-Hmac-Sha256 header is missing.' : 'The signature does not match the body under any configured signing key.';
            return sendError(res, new HttpError(401, verdict.code, message));
        }
        let body: unknown;
        try {
            body = JSON.parse(utf8.decode(raw));
        } catch {
            deps.events?.emit('webhook', { type: 'unknown', outcome: 'invalid_json' });
            return sendError(res, new HttpError(400, 'invalid_json', 'The body is not UTF-8 JSON.'));
        }
        const action = classifyWebhook(body, deps.allowList);
        const type = typeof (body as { type?: unknown })?.type === 'string' && (body as { from?: unknown }).from === 'nango' ? String((body as { type: string }).type) : 'other';
        if (action.kind === 'invalid') {
            deps.events?.emit('webhook', { type: type, outcome: 'invalid' });
            log.warn({ type }, action.message);
            return sendError(res, new HttpError(400, 'invalid_webhook', action.message));
        }
        try {
            await store(action);
        } catch (err) {
            deps.events?.emit('webhook', { type: type, outcome: 'storage_error' });
            log.error({ err }, 'could not store the pull request; answering 503 so Nango retries');
            return sendError(res, new HttpError(503, 'storage_unavailable', 'The pull request could not be stored; retry later.'));
        }
        deps.events?.emit('webhook', { type: type, outcome: action.kind === 'ignore' ? 'ignored' : 'accepted' });
        res.json({ status: action.kind === 'ignore' ? 'ignored' : 'accepted', ...(action.kind === 'pull' ? { pulls: action.keys.length } : {}) });
        if (action.kind === 'pull') {
            for (const key of action.keys) void deps.scheduler.request(key, 'webhook');
        }
    };

    async function store(action: WebhookAction): Promise<void> {
        const at = dateToMicroIso(new Date());
        switch (action.kind) {
            case 'pull':
                await deps.pullRequests.store(action.keys);
                log.debug({ keys: action.keys.map(describeKey) }, 'pull requested');
                return;
            case 'sync_failed':
                await deps.store.recordNangoSyncError(action.keys, action.error, at);
                log.warn({ keys: action.keys.map(describeKey), error: action.error }, 'Nango reports a failed sync');
                return;
            case 'connection_deleted': {
                const n = await deps.store.markConnectionGone(action.providerConfigKey, action.connectionId, 'Nango deleted the connection (auth webhook, operation deletion); rows kept.', at);
                log.info({ providerConfigKey: action.providerConfigKey, connectionId: action.connectionId, keys: n }, 'connection deleted in Nango; its keys are marked gone');
                return;
            }
            case 'auth':
                log.info({ providerConfigKey: action.providerConfigKey, connectionId: action.connectionId, operation: action.operation, success: action.success }, 'auth webhook');
                return;
            case 'ignore':
                log.debug({ reason: action.reason }, 'webhook ignored');
                return;
            case 'invalid':
                return;
        }
    }

    const bodyErrors: express.ErrorRequestHandler = (err, _req, res, next) => {
        const known = toHttpError(err);
        if (!known) return next(err);
        deps.events?.emit('webhook', { type: 'unknown', outcome: known.code });
        return sendError(res, known);
    };

    return [checkContentType, readRaw, handle, bodyErrors];
}
