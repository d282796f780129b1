import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AllowEntry } from '../../domain/allowList.js';
import type { DaemonEvents } from '../../domain/daemonEvents.js';
import type { PullRequests } from '../../storage/store.js';
import { dateToMicroIso } from '../../domain/timestamps.js';
import { connectionFromAuthWebhook } from '../../domain/connectionInfo.js';
import type { PullRequestBatcher } from '../../sync/pullRequestBatcher.js';
import type { PullScheduler } from '../../sync/pullScheduler.js';
import { describeKey, type SyncKey } from '../../domain/syncKey.js';
import { classifyWebhook, type WebhookAction } from '../../webhooks/classifyWebhook.js';
import { HttpError, isHttpError, sendError, sendJson } from '../httpError.js';
import { readBody } from '../readBody.js';
import { verifyWebhook } from '../verifyWebhook.js';

export interface WebhookRouteDeps {
    signingKeys: readonly string[];
    acceptLegacySignature: boolean;
    maxBodyBytes: number;
    allowList: readonly AllowEntry[];
    requests: Pick<PullRequests, 'recordNangoSyncError' | 'recordConnectionEvent'>;
    /** Stores pull requests durably, many webhooks per transaction. */
    pullRequests: PullRequestBatcher;
    scheduler: PullScheduler;
    logger: Logger;
    events?: DaemonEvents;
    /** The keys of each stored pull request (the typed views look for models they have not seen). */
    onPullKeys?: (keys: readonly SyncKey[]) => void;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `POST <webhookPath>`: 415 → 413 → 401 → 400, then the request is stored and only then
 * acknowledged. Nango never retries a 4xx, so a verified webhook that cannot be stored gets 503.
 *
 * A bare node:http handler, served in front of express (createServer.ts): a minimal express route
 * cost 150–200 µs of CPU a request on the project's 2-core machine against 50 µs for node:http
 * alone (measured), about half of the daemon's main-thread work per webhook under a flood.
 */
export function postWebhook(deps: WebhookRouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
    const log = deps.logger.child({ route: 'webhook' });
    const reject = (res: ServerResponse, err: HttpError, type = 'unknown', outcome = err.code) => {
        deps.events?.emit('webhook', { type, outcome });
        sendError(res, err);
    };

    async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const media = headerValue(req.headers['content-type']).split(';')[0]!.trim().toLowerCase();
        if (media !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(media)) {
            return reject(res, new HttpError(415, 'unsupported_media_type', `Expected Content-Type application/json, got ${JSON.stringify(media || '(none)')}.`));
        }
        const encoding = headerValue(req.headers['content-encoding']).trim().toLowerCase();
        if (encoding !== '' && encoding !== 'identity') {
            // Nango signs and sends the plain bytes; a compressed body is not Nango's (and could be a bomb).
            return reject(res, new HttpError(415, 'unsupported_encoding', `Unsupported Content-Encoding ${JSON.stringify(encoding)}; Nango sends the body uncompressed.`));
        }
        let raw: Buffer;
        try {
            raw = await readBody(req, deps.maxBodyBytes);
        } catch (err) {
            if (!isHttpError(err)) throw err;
            // The rest of the body is not read: close the connection after the answer.
            res.setHeader('connection', 'close');
            return reject(res, err);
        }
        const verdict = verifyWebhook(raw, req.headers, { keys: deps.signingKeys, acceptLegacy: deps.acceptLegacySignature });
        if (!verdict.ok) {
            log.warn({ code: verdict.code, bytes: raw.length }, 'webhook rejected: bad signature');
            const message = verdict.code === 'missing_signature' ? 'The X-Nango-Hmac-Sha256 header is missing.' : 'The signature does not match the body under any configured signing key.';
            return reject(res, new HttpError(401, verdict.code, message));
        }
        let body: unknown;
        try {
            body = JSON.parse(utf8.decode(raw));
        } catch {
            return reject(res, new HttpError(400, 'invalid_json', 'The body is not UTF-8 JSON.'));
        }
        const action = classifyWebhook(body, deps.allowList);
        const type = typeof (body as { type?: unknown })?.type === 'string' && (body as { from?: unknown }).from === 'nango' ? String((body as { type: string }).type) : 'other';
        if (action.kind === 'invalid') {
            log.warn({ type }, action.message);
            return reject(res, new HttpError(400, 'invalid_webhook', action.message), type, 'invalid');
        }
        try {
            await store(action, body);
        } catch (err) {
            log.error({ err }, 'could not store the pull request; answering 503 so Nango retries');
            return reject(res, new HttpError(503, 'storage_unavailable', 'The pull request could not be stored; retry later.'), type, 'storage_error');
        }
        deps.events?.emit('webhook', { type, outcome: action.kind === 'ignore' ? 'ignored' : 'accepted' });
        sendJson(res, 200, { status: action.kind === 'ignore' ? 'ignored' : 'accepted', ...(action.kind === 'pull' ? { pulls: action.keys.length } : {}) });
        if (action.kind === 'pull') deps.onPullKeys?.(action.keys);
    }

    async function store(action: WebhookAction, body: unknown): Promise<void> {
        const at = dateToMicroIso(new Date());
        switch (action.kind) {
            case 'pull':
                // The pull starts once the request is committed, while its fsync runs: the 2xx
                // still waits for the fsync, the change does not wait for the 2xx. setImmediate:
                // the pull's first steps never run ahead of an answer that is ready (on Postgres
                // the commit is the durability, so the 2xx is written first).
                await deps.pullRequests.store(action.keys, () =>
                    setImmediate(() => {
                        for (const key of action.keys) deps.scheduler.offer(key, 'webhook');
                    }),
                );
                if (log.isLevelEnabled('debug')) log.debug({ keys: action.keys.map(describeKey) }, 'pull requested');
                return;
            case 'sync_failed':
                await deps.requests.recordNangoSyncError(action.keys, action.error, at);
                log.warn({ keys: action.keys.map(describeKey), error: action.error }, 'Nango reports a failed sync');
                return;
            case 'connection_deleted': {
                // nango_connections.deleted_at and the keys gone, in one transaction.
                const n = await deps.requests.recordConnectionEvent(
                    {
                        ...connectionFromAuthWebhook(action.providerConfigKey, action.connectionId, body),
                        operation: 'deletion',
                        reason: 'Nango deleted the connection (auth webhook, operation deletion); rows kept.',
                    },
                    at,
                );
                log.info({ providerConfigKey: action.providerConfigKey, connectionId: action.connectionId, keys: n }, 'connection deleted in Nango; its keys are marked gone');
                return;
            }
            case 'auth':
                // A connection Nango created or re-authorized exists: nango_connections gets it (a
                // deleted one revives). A failed attempt or a failed refresh says nothing new of it.
                if (action.success && (action.operation === 'creation' || action.operation === 'override')) {
                    await deps.requests.recordConnectionEvent({ ...connectionFromAuthWebhook(action.providerConfigKey, action.connectionId, body), operation: action.operation }, at);
                }
                log.info({ providerConfigKey: action.providerConfigKey, connectionId: action.connectionId, operation: action.operation, success: action.success }, 'auth webhook');
                return;
            case 'ignore':
                log.debug({ reason: action.reason }, 'webhook ignored');
                return;
            case 'invalid':
                return;
        }
    }

    return (req, res) => {
        receive(req, res).catch((err: unknown) => {
            log.error({ err }, 'unhandled error');
            if (!res.headersSent) sendError(res, new HttpError(500, 'internal_error', 'Internal error.'));
        });
    };
}

/** A repeated header arrives as an array: it is nothing Nango sent. */
function headerValue(value: string | string[] | undefined): string {
    return typeof value === 'string' ? value : '';
}
