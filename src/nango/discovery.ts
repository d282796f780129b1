import { createNangoGet, type NangoClientOptions, type NangoGet } from './client.js';
import { NangoProtocolError, isNangoApiError } from './errors.js';
import type { SchemaSync } from '../domain/generatedViews.js';
import type { JsonSchemaDocument, LegacyModelEntry } from '../domain/modelSchema.js';

/**
 * One item of `GET /connections` (`ApiPublicConnection` in @nangohq/types, built by
 * `connectionSimpleToPublicApi` in packages/server/lib/formatters/connection.ts). Only the fields
 * discovery reads; Nango also sends `errors` and `metadata`.
 */
export interface PublicConnection {
    /** Nango's internal numeric id. */
    id: number;
    connection_id: string;
    provider_config_key: string;
    /** The provider behind the integration, e.g. `hubspot`; several integrations can share one. */
    provider: string;
    created: string;
    /** Nango's connection tags (keys lowercase), as sent: read loosely by src/domain/connectionInfo.ts. */
    tags?: unknown;
    /** The connect session's end user (`{id, organization: {id}}`), or null: read loosely as `tags`. */
    end_user?: unknown;
}

/**
 * One sync of `GET /scripts/config` (`NangoSyncConfig`): what discovery reads, and what the
 * generated typed views read (src/domain/modelSchema.ts). Everything but `name` is read loosely: a
 * field of an unexpected shape is left out (or `null`/`[]`), never an error, so a malformed schema
 * never breaks discovery.
 */
export interface ScriptsConfigSync extends SchemaSync {
    name: string;
    /** The models the sync writes (base names): what `GET /records?model=` takes. */
    returns: string[];
    enabled?: boolean;
    /** Changes on every deploy. */
    id?: number;
    /** The developer's version, or bumped when the compiled code changed. */
    version?: string;
    /** The deploy time (ISO). */
    last_deployed?: string;
    /** `{definitions: {<Model>: JSON Schema}}`; `null` when Nango sent none (rows before 2024-06) or not an object. */
    json_schema: JsonSchemaDocument | null;
    /** The legacy model list; only entries with a string `name` are kept, `fields` as a list (else `[]`). */
    models: LegacyModelEntry[];
}

/**
 * One entry of `GET /scripts/config` (`StandardNangoConfig`). Nango groups the entries by
 * *provider*, not by integration (`convertSyncConfigToStandardConfig` in
 * packages/shared/lib/services/sync/config/config.service.ts): two integrations of one provider
 * come back as one entry named after the first, holding the syncs of both.
 */
export interface ScriptsConfigEntry {
    providerConfigKey: string;
    provider?: string;
    syncs: ScriptsConfigSync[];
}

export interface ListConnectionsRequest {
    /** Sent as `integrationId=a,b` (Nango splits on commas); omit for every integration. */
    integrationIds?: readonly string[];
    signal?: AbortSignal;
}

export interface DiscoveryClient {
    /** Every connection, all pages of `GET /connections` read. */
    listConnections(request?: ListConnectionsRequest): Promise<PublicConnection[]>;
    /** `GET /scripts/config` in Nango's own format: the active syncs and actions per provider. */
    getScriptsConfig(request?: { signal?: AbortSignal }): Promise<ScriptsConfigEntry[]>;
}

export interface DiscoveryClientOptions extends NangoClientOptions {
    /** Connections per page: Nango accepts 1..2000 (1..1000 before 2026-01-29). @default 1000 */
    connectionsPageSize?: number;
}

/**
 * Nango answered a page without `limit`/`page` support: before 2026-01-13 (PRs #5233, #5234) the
 * query was `.strict()` without them, and one unpaged call returned the first 10,000 connections.
 */
const LEGACY_UNPAGED_LIMIT = 10_000;

/**
 * The two discovery endpoints, through the same request loop as `GET /records` (timeout, retries,
 * and the 429 gate given in `options`, so they wait whenever the account's bucket is empty).
 */
export function createDiscoveryClient(options: DiscoveryClientOptions): DiscoveryClient {
    const get: NangoGet = createNangoGet(options);
    const pageSize = options.connectionsPageSize ?? 1000;

    return {
        async listConnections(request = {}) {
            const found = new Map<string, PublicConnection>();
            let paged = true;
            for (let page = 0; ; page++) {
                const query = new URLSearchParams();
                if (request.integrationIds && request.integrationIds.length > 0) query.set('integrationId', request.integrationIds.join(','));
                if (paged) {
                    query.set('limit', String(pageSize));
                    query.set('page', String(page));
                }
                let body: string;
                try {
                    body = await get({ path: '/connections', query, reason: 'discovery', ...(request.signal ? { signal: request.signal } : {}) });
                } catch (err) {
                    if (paged && page === 0 && isNangoApiError(err) && err.status === 400 && err.code === 'invalid_query_params') {
                        options.logger.warn({}, 'this Nango does not page GET /connections (before 2026-01); listing without limit/page, which returns at most 10,000');
                        paged = false;
                        page = -1;
                        continue;
                    }
                    throw err;
                }
                const connections = parseConnections(body);
                let added = 0;
                for (const c of connections) {
                    const k = JSON.stringify([c.provider_config_key, c.connection_id]);
                    if (!found.has(k)) added++;
                    found.set(k, c);
                }
                if (!paged) {
                    if (connections.length >= LEGACY_UNPAGED_LIMIT) options.logger.warn({ connections: connections.length }, 'GET /connections may have cut the list at 10,000');
                    break;
                }
                if (connections.length < pageSize) break;
                // Offset paging over a list that shifts (created_at DESC) repeats an item now and
                // then; a full page with nothing new means the server ignores `page`: stop.
                if (added === 0) {
                    options.logger.warn({ page }, 'GET /connections returned a page with no new connection; stopping');
                    break;
                }
            }
            return [...found.values()];
        },

        async getScriptsConfig(request = {}) {
            // `format` defaults to `nango`, the StandardNangoConfig[] list.
            const body = await get({ path: '/scripts/config', query: new URLSearchParams(), reason: 'discovery', ...(request.signal ? { signal: request.signal } : {}) });
            return parseScriptsConfig(body);
        },
    };
}

function parseJson(body: string, what: string): unknown {
    try {
        return JSON.parse(body);
    } catch {
        throw new NangoProtocolError(`${what} answered 2xx with a body that is not JSON.`);
    }
}

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseConnections(body: string): PublicConnection[] {
    const parsed = parseJson(body, 'GET /connections');
    if (!isRecord(parsed) || !Array.isArray(parsed['connections'])) {
        throw new NangoProtocolError('GET /connections answered 2xx without a `connections` array.');
    }
    const out: PublicConnection[] = [];
    for (const item of parsed['connections'] as unknown[]) {
        if (!isRecord(item) || typeof item['connection_id'] !== 'string' || typeof item['provider_config_key'] !== 'string') {
            throw new NangoProtocolError('GET /connections answered a connection without `connection_id` and `provider_config_key`.');
        }
        out.push({
            id: typeof item['id'] === 'number' ? item['id'] : 0,
            connection_id: item['connection_id'],
            provider_config_key: item['provider_config_key'],
            provider: typeof item['provider'] === 'string' ? item['provider'] : '',
            created: typeof item['created'] === 'string' ? item['created'] : '',
            tags: item['tags'],
            end_user: item['end_user'],
        });
    }
    return out;
}

/** The body of `GET /scripts/config`; throws `NangoProtocolError` only when an entry lacks `providerConfigKey` or `syncs`. */
export function parseScriptsConfig(body: string): ScriptsConfigEntry[] {
    const parsed = parseJson(body, 'GET /scripts/config');
    if (!Array.isArray(parsed)) throw new NangoProtocolError('GET /scripts/config answered 2xx with something other than a list.');
    return parsed.map((entry: unknown): ScriptsConfigEntry => {
        if (!isRecord(entry) || typeof entry['providerConfigKey'] !== 'string' || !Array.isArray(entry['syncs'])) {
            throw new NangoProtocolError('GET /scripts/config answered an entry without `providerConfigKey` and `syncs`.');
        }
        const syncs = (entry['syncs'] as unknown[]).flatMap((s): ScriptsConfigSync[] => {
            if (!isRecord(s) || typeof s['name'] !== 'string') return [];
            const returns = Array.isArray(s['returns']) ? s['returns'].filter((m): m is string => typeof m === 'string') : [];
            return [
                {
                    name: s['name'],
                    returns,
                    ...(typeof s['enabled'] === 'boolean' ? { enabled: s['enabled'] } : {}),
                    ...(typeof s['id'] === 'number' ? { id: s['id'] } : {}),
                    ...(typeof s['version'] === 'string' ? { version: s['version'] } : {}),
                    ...(typeof s['last_deployed'] === 'string' ? { last_deployed: s['last_deployed'] } : {}),
                    json_schema: isRecord(s['json_schema']) ? s['json_schema'] : null,
                    models: Array.isArray(s['models']) ? s['models'].flatMap(legacyModelEntry) : [],
                },
            ];
        });
        return { providerConfigKey: entry['providerConfigKey'], ...(typeof entry['provider'] === 'string' ? { provider: entry['provider'] } : {}), syncs };
    });
}

function legacyModelEntry(m: unknown): LegacyModelEntry[] {
    if (!isRecord(m) || typeof m['name'] !== 'string') return [];
    return [{ name: m['name'], fields: Array.isArray(m['fields']) ? (m['fields'] as unknown[]) : [] }];
}
