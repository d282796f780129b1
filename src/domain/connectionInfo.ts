import { TimestampError, toMicroIso } from './timestamps.js';

/** What `nango_connections` keeps of what Nango says of a connection; a field Nango did not send is null (and an update keeps the stored value). */
export interface ConnectionSeen {
    providerConfigKey: string;
    connectionId: string;
    provider: string | null;
    /** Nango's connection tags (an object), or null. */
    tags: Record<string, unknown> | null;
    endUserId: string | null;
    organizationId: string | null;
    /** Nango's creation time, UTC micro ISO. */
    createdAt: string | null;
}

// What `nango_connections` keeps of a connection, read loosely from what Nango sends: a field of an
// unexpected shape is left out (null, so the stored value stays), never an error, so an odd
// listing or webhook never breaks discovery nor makes Nango retry a webhook in vain.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text both engines store exactly (Postgres text and jsonb hold no NUL nor lone surrogate). */
function text(value: unknown): string | null {
    return typeof value === 'string' && !value.includes('\u0000') && !LONE_SURROGATE.test(value) ? value : null;
}

function object(value: unknown): Record<string, unknown> | null {
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** Tags as an object Postgres jsonb accepts: JSON.stringify escapes a NUL or a lone surrogate as `\u…`, which jsonb refuses. */
function tags(value: unknown): Record<string, unknown> | null {
    const tags = object(value);
    if (!tags) return null;
    const json = JSON.stringify(tags);
    return /\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(json) ? null : tags;
}

function timestamp(value: unknown): string | null {
    if (typeof value !== 'string') return null;
    try {
        return toMicroIso(value);
    } catch (err) {
        if (err instanceof TimestampError) return null;
        throw err;
    }
}

/**
 * One item of `GET /connections` (protocol §6.3): `provider`, `tags`, `created`, and the connect
 * session's `end_user: {id, organization: {id}}` (null for other connections).
 */
export function connectionFromListing(c: { provider_config_key: string; connection_id: string; provider: string; created: string; tags?: unknown; end_user?: unknown }): ConnectionSeen {
    const endUser = object(c.end_user);
    return {
        providerConfigKey: c.provider_config_key,
        connectionId: c.connection_id,
        provider: text(c.provider) || null,
        tags: tags(c.tags),
        endUserId: text(endUser?.['id']),
        organizationId: text(object(endUser?.['organization'])?.['id']),
        createdAt: timestamp(c.created),
    };
}

/**
 * An `auth` webhook's body (protocol §3.3): `provider` (`'unknown'` is no answer), `tags`, and the
 * connect session's `endUser: {endUserId, organizationId}`. Nango's creation time is not sent.
 */
export function connectionFromAuthWebhook(providerConfigKey: string, connectionId: string, body: unknown): ConnectionSeen {
    const b = object(body) ?? {};
    const endUser = object(b['endUser']);
    const provider = text(b['provider']);
    return {
        providerConfigKey,
        connectionId,
        provider: provider === 'unknown' ? null : provider,
        tags: tags(b['tags']),
        endUserId: text(endUser?.['endUserId']),
        organizationId: text(endUser?.['organizationId']),
        createdAt: null,
    };
}
