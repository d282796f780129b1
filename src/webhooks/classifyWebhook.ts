import type { NangoAuthWebhookBody, NangoSyncWebhookBodyError, NangoSyncWebhookBodySuccess } from '@nangohq/types';
import { z } from 'zod';
import { isAllowed, type AllowEntry } from '../domain/allowList.js';
import { BASE_VARIANT, type SyncKey } from '../domain/syncKey.js';

/**
 * An identifier as text every engine can store exactly: no NUL (Postgres text cannot hold it) and
 * no lone surrogate (it would be stored as U+FFFD and no longer match). Nango's own ids never have
 * them, so such a webhook is malformed: a 4xx, never a 503 that Nango would retry in vain.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ident = z
    .string()
    .min(1)
    .refine((v) => !v.includes('\u0000') && !LONE_SURROGATE.test(v), 'must be text without NUL or unpaired surrogates');

// z.object ignores unknown keys: Nango adds fields over time, and a new field must never become a 4xx.
const syncSuccess = z.object({
    from: z.literal('nango'),
    type: z.literal('sync'),
    success: z.literal(true),
    providerConfigKey: ident,
    connectionId: ident,
    model: ident,
    syncVariant: ident.optional(),
    syncName: z.string().optional(),
});

const syncError = z.object({
    from: z.literal('nango'),
    type: z.literal('sync'),
    success: z.literal(false),
    providerConfigKey: ident,
    connectionId: ident,
    /** `models.join(',')`: one failed-sync webhook names every model of the sync. */
    model: ident,
    syncVariant: ident.optional(),
    syncName: z.string().optional(),
    error: z.object({ type: z.string().optional(), description: z.string().optional() }).optional(),
});

const auth = z.object({
    from: z.literal('nango'),
    type: z.literal('auth'),
    providerConfigKey: ident,
    connectionId: ident,
    operation: z.string(),
    success: z.boolean(),
});

// Compile-time check that the schemas accept what @nangohq/types says Nango sends
// (its `from` is `string`; Nango's own webhooks always say "nango").
type FromNango<Body> = Omit<Body, 'from'> & { from: 'nango' };
type Accepts<Schema extends z.ZodType, Body> = FromNango<Body> extends z.input<Schema> ? true : never;
const typesAgree: [
    Accepts<typeof syncSuccess, NangoSyncWebhookBodySuccess>,
    Accepts<typeof syncError, NangoSyncWebhookBodyError>,
    Accepts<typeof auth, NangoAuthWebhookBody>,
] = [true, true, true];
void typesAgree;


export type WebhookAction =
    | { kind: 'pull'; keys: SyncKey[]; syncName?: string | undefined }
    | { kind: 'sync_failed'; keys: SyncKey[]; error: string }
    | { kind: 'connection_deleted'; providerConfigKey: string; connectionId: string }
    | { kind: 'auth'; providerConfigKey: string; connectionId: string; operation: string; success: boolean }
    | { kind: 'ignore'; reason: string }
    | { kind: 'invalid'; message: string };

/**
 * Decides what a verified webhook asks for. Only `from: "nango"` bodies are Nango's own: forwarded
 * provider payloads may carry any `type`, and unknown types are ignored (Nango adds them over time).
 */
export function classifyWebhook(body: unknown, allowList: readonly AllowEntry[]): WebhookAction {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return { kind: 'ignore', reason: 'not an object: a forwarded provider payload' };
    }
    const { from, type, success } = body as Record<string, unknown>;
    if (from !== 'nango') return { kind: 'ignore', reason: `forwarded payload (from ${JSON.stringify(from)})` };

    if (type === 'sync') {
        if (success === true) {
            const parsed = syncSuccess.safeParse(body);
            if (!parsed.success) return invalid(parsed.error);
            const w = parsed.data;
            const key = { providerConfigKey: w.providerConfigKey, connectionId: w.connectionId, model: w.model, variant: w.syncVariant ?? BASE_VARIANT };
            if (!isAllowed(key, allowList)) return { kind: 'ignore', reason: 'model not in the models allow-list' };
            return { kind: 'pull', keys: [key], syncName: w.syncName };
        }
        const parsed = syncError.safeParse(body);
        if (!parsed.success) return invalid(parsed.error);
        const w = parsed.data;
        const keys = w.model
            .split(',')
            .map((m) => m.trim())
            .filter((m) => m.length > 0)
            .map((model) => ({ providerConfigKey: w.providerConfigKey, connectionId: w.connectionId, model, variant: w.syncVariant ?? BASE_VARIANT }))
            .filter((k) => isAllowed(k, allowList));
        if (keys.length === 0) return { kind: 'ignore', reason: 'no model of this sync is in the models allow-list' };
        const error = [w.error?.type, w.error?.description].filter(Boolean).join(': ') || 'sync failed';
        return { kind: 'sync_failed', keys, error };
    }

    if (type === 'auth') {
        const parsed = auth.safeParse(body);
        if (!parsed.success) return invalid(parsed.error);
        const w = parsed.data;
        if (w.operation === 'deletion' && w.success) {
            return { kind: 'connection_deleted', providerConfigKey: w.providerConfigKey, connectionId: w.connectionId };
        }
        return { kind: 'auth', providerConfigKey: w.providerConfigKey, connectionId: w.connectionId, operation: w.operation, success: w.success };
    }
    return { kind: 'ignore', reason: `webhook type ${JSON.stringify(type)} carries nothing to mirror` };
}

function invalid(error: z.ZodError): WebhookAction {
    const first = error.issues[0];
    const where = first?.path.map(String).join('.') || '(root)';
    return { kind: 'invalid', message: `Not a valid Nango webhook: ${where}: ${first?.message ?? 'invalid'}` };
}
