/**
 * Builds and signs webhooks exactly as Nango sends them (protocol §2 and §3).
 *
 * Body builders return plain objects; `signWebhook` serializes them with the same
 * stable stringify Nango uses, so the signed string is the sent string.
 */
import { createHash, createHmac } from 'node:crypto';

import { stableStringify } from './stableStringify.js';

export const NANGO_USER_AGENT = 'nango/0.71.10 (linux/6; node.js/v20)';

export type Checkpoint = Record<string, string | number | boolean>;
export interface CheckpointRange {
    from: Checkpoint | null;
    to: Checkpoint | null;
}
export type SyncType = 'INITIAL' | 'INCREMENTAL' | 'WEBHOOK';

function iso(value: string | Date | undefined): string {
    if (value === undefined) return new Date().toISOString();
    return typeof value === 'string' ? value : value.toISOString();
}

export interface SyncSuccessOptions {
    providerConfigKey: string;
    connectionId: string;
    /** Base model name; the variant goes in `variant`. */
    model: string;
    variant?: string;
    /** Defaults to the model name lowercased. */
    syncName?: string;
    added?: number;
    updated?: number;
    deleted?: number;
    /** Omitted from the body when undefined or null, as Nango does. */
    checkpoints?: CheckpointRange | null;
    /** Run start time; also used for the deprecated `queryTimeStamp`. Defaults to now. */
    modifiedAfter?: string | Date;
    syncType?: SyncType;
}

/** §3.1: one webhook per model per successful run. */
export function syncSuccessBody(opts: SyncSuccessOptions): Record<string, unknown> {
    const at = iso(opts.modifiedAfter);
    return {
        ...(opts.checkpoints ? { checkpoints: opts.checkpoints } : {}),
        connectionId: opts.connectionId,
        from: 'nango',
        model: opts.model,
        modifiedAfter: at,
        providerConfigKey: opts.providerConfigKey,
        queryTimeStamp: at,
        responseResults: { added: opts.added ?? 0, deleted: opts.deleted ?? 0, updated: opts.updated ?? 0 },
        success: true,
        syncName: opts.syncName ?? opts.model.toLowerCase(),
        syncType: opts.syncType ?? 'INCREMENTAL',
        syncVariant: opts.variant ?? 'base',
        type: 'sync'
    };
}

export interface SyncErrorOptions {
    providerConfigKey: string;
    connectionId: string;
    /** A list is joined with ',' as Nango does (`models.join(',')`). */
    model: string | string[];
    variant?: string;
    syncName?: string;
    description?: string;
    errorPayload?: unknown;
    /** The last successful run's start (not the failed run's). Defaults to now. */
    startedAt?: string | Date;
    failedAt?: string | Date;
    syncType?: SyncType;
}

/** §3.2: sent when a run fails (only with the `on_sync_error` setting). */
export function syncErrorBody(opts: SyncErrorOptions): Record<string, unknown> {
    const model = Array.isArray(opts.model) ? opts.model.join(',') : opts.model;
    return {
        connectionId: opts.connectionId,
        error: {
            description: opts.description ?? 'Sync failed',
            ...(opts.errorPayload !== undefined ? { payload: opts.errorPayload } : {}),
            type: 'script_error'
        },
        failedAt: iso(opts.failedAt),
        from: 'nango',
        model,
        providerConfigKey: opts.providerConfigKey,
        startedAt: iso(opts.startedAt),
        success: false,
        syncName: opts.syncName ?? (model.split(',')[0] ?? model).toLowerCase(),
        syncType: opts.syncType ?? 'INCREMENTAL',
        syncVariant: opts.variant ?? 'base',
        type: 'sync'
    };
}

export type AuthOperation = 'creation' | 'override' | 'refresh' | 'deletion' | 'unknown';

export interface AuthOptions {
    providerConfigKey: string;
    connectionId: string;
    operation: AuthOperation;
    success?: boolean;
    provider?: string;
    authMode?: string;
    environment?: string;
    tags?: Record<string, string>;
    endUser?: { endUserId: string; endUserEmail?: string; organizationId?: string; tags?: Record<string, string> };
    /** Set for failures (`success: false`). */
    error?: { type: string; description: string };
}

/** §3.3: connection lifecycle webhooks. */
export function authBody(opts: AuthOptions): Record<string, unknown> {
    return {
        authMode: opts.authMode ?? 'OAUTH2',
        connectionId: opts.connectionId,
        ...(opts.endUser ? { endUser: opts.endUser } : {}),
        environment: opts.environment ?? 'dev',
        ...(opts.error ? { error: opts.error } : {}),
        from: 'nango',
        operation: opts.operation,
        provider: opts.provider ?? opts.providerConfigKey,
        providerConfigKey: opts.providerConfigKey,
        success: opts.success ?? true,
        tags: opts.tags ?? {},
        type: 'auth'
    };
}

/** §3.4 attributed forward: `from` is the provider name, the provider payload is wrapped. */
export function forwardBody(opts: { providerConfigKey: string; connectionId: string; provider: string; payload: unknown }): Record<string, unknown> {
    return {
        connectionId: opts.connectionId,
        from: opts.provider,
        payload: opts.payload,
        providerConfigKey: opts.providerConfigKey,
        type: 'forward'
    };
}

/** §3.5: async action completion; it carries no result, only where to fetch it. */
export function asyncActionBody(opts: { providerConfigKey: string; connectionId: string; id: string }): Record<string, unknown> {
    return {
        connectionId: opts.connectionId,
        from: 'nango',
        payload: { id: opts.id, statusUrl: `/action/${opts.id}` },
        providerConfigKey: opts.providerConfigKey,
        type: 'async_action'
    };
}

/** `X-Nango-Hmac-Sha256`: HMAC-SHA256(key, body) as lowercase hex. */
export function hmacSignature(body: string | Buffer, signingKey: string): string {
    return createHmac('sha256', signingKey).update(body).digest('hex');
}

/** Legacy `X-Nango-Signature`: SHA256(key + body) as lowercase hex. */
export function legacySignature(body: string, signingKey: string): string {
    return createHash('sha256').update(`${signingKey}${body}`).digest('hex');
}

export interface SignedWebhook {
    body: string;
    headers: Record<string, string>;
}

/** Serializes (unless already a string) and signs a body with both Nango signature headers. */
export function signWebhook(body: object | string, signingKey: string): SignedWebhook {
    const text = typeof body === 'string' ? body : stableStringify(body);
    return {
        body: text,
        headers: {
            'content-type': 'application/json',
            'user-agent': NANGO_USER_AGENT,
            'x-nango-hmac-sha256': hmacSignature(text, signingKey),
            'x-nango-signature': legacySignature(text, signingKey)
        }
    };
}

/**
 * POSTs a signed webhook like Nango's deliver() (one attempt, no retries).
 * `json` is the parsed response body, the raw text when it is not JSON, or null when empty.
 * `extraHeaders` are applied last, so they can override or corrupt the signature headers.
 */
export async function postWebhook(
    url: string,
    body: object | string,
    signingKey: string,
    extraHeaders?: Record<string, string>
): Promise<{ status: number; json: unknown }> {
    const signed = signWebhook(body, signingKey);
    const res = await fetch(url, { method: 'POST', body: signed.body, headers: { ...signed.headers, ...extraHeaders } });
    const text = await res.text();
    let json: unknown = null;
    if (text.length > 0) {
        try {
            json = JSON.parse(text);
        } catch {
            json = text;
        }
    }
    return { status: res.status, json };
}
