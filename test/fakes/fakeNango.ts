/**
 * Fake Nango `GET /records` server over real HTTP (`node:http`, no framework), following
 * /work/shared/nango-protocol.md §4 strictly, plus fault injection and a request log.
 *
 * Middleware order is Nango's: content type (415) → API key (401) → rate limit (429) →
 * query (400 invalid_query_params) → headers (400 invalid_headers) → connection
 * (400 unknown_connection) → cursor (500 server_error) → page. Injected faults run first,
 * like a load balancer in front of Nango.
 *
 * Also the two discovery endpoints, behind the same 415 → 401 → 429 chain and rate-limit bucket:
 * - `GET /connections` (and its alias `GET /connection`): `getPublicConnections` in
 *   packages/server/lib/controllers/connection/getConnections.ts — a `.strict()` query of
 *   connectionId, search, endUserId, integrationId (comma list), endUserOrganizationId, tags,
 *   limit (1..2000) and page (≥ 0, offset = page × limit); without `limit` it returns up to
 *   10,000. Ordered by created_at DESC, id DESC; answers `{connections: ApiPublicConnection[]}`
 *   (`connectionSimpleToPublicApi`, packages/server/lib/formatters/connection.ts).
 * - `GET /scripts/config`: `getPublicScriptsConfig` in
 *   packages/server/lib/controllers/scripts/config/getScriptsConfig.ts — the query is not
 *   validated; `format=openai` gives `{data: OpenAIFunction[]}`, anything else
 *   `StandardNangoConfig[]` built by `convertSyncConfigToStandardConfig`
 *   (packages/shared/lib/services/sync/config/config.service.ts): active syncs ordered by name and
 *   grouped by *provider*, each group named after the first integration met, so two integrations
 *   of one provider share one entry. No sync at all answers `[]`.
 * Connections are the ones the fake knows (added, or created by a mutation); integrations and
 * their syncs are registered with `setSyncs`.
 */
import { gzipSync } from 'node:zlib';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { decodeCursor } from './fakeCursor.js';
import { FakeRecordStore, type MutationResult, type RecordInput, type RecordState, type StoreKey } from './fakeRecordStore.js';
import { filterPredicate, parseQueryString, validateRecordsHeaders, validateRecordsQuery } from './fakeRecordsQuery.js';
import { createMicroClock, toPostgresJson } from './nangoTime.js';
import { closeServer, listenOn } from './serverLifecycle.js';

export interface Fault {
    /** Omit to only delay, then answer normally. */
    status?: number;
    /** Objects are sent as JSON; strings as-is (text/plain unless `headers` says otherwise). */
    body?: string | object;
    headers?: Record<string, string>;
    delayMs?: number;
    /** Hold the answer until this settles (after any delay): a test decides when the page arrives. */
    until?: Promise<unknown>;
    /** Reset the socket (TCP RST) without answering. */
    destroy?: boolean;
}

/** The routes the fake serves, as fault targets; `/connection` counts as `/connections`. */
export type FakeRoute = '/records' | '/connections' | '/scripts/config' | '/sync/status';

/** One sync deployed on an integration, as `setSyncs` registers it. */
export interface FakeSync {
    name: string;
    /** The models it writes: the sync config's `returns`. */
    models: string[];
    /** @default true */
    enabled?: boolean;
    /** @default true */
    autoStart?: boolean;
    /** @default "every day" */
    runs?: string;
    /** @default "full" */
    syncType?: 'full' | 'incremental';
    /** @default false */
    trackDeletes?: boolean;
}

interface FakeIntegration {
    provider: string;
    syncs: Array<FakeSync & { id: number; deployedMs: number }>;
}

interface FakeConnectionMeta {
    /** Nango's numeric connection id. */
    id: number;
    providerConfigKey: string;
    connectionId: string;
    createdMs: number;
}

export interface FaultRequest {
    path: FakeRoute;
    query: URLSearchParams;
    headers: IncomingHttpHeaders;
    /** 1-based request counter (same as `requestCount` after this request). */
    n: number;
}

export type FaultInjector = (req: FaultRequest) => Fault | undefined;

export interface LoggedRequest {
    n: number;
    method: string;
    path: string;
    query: Record<string, string | string[]>;
    headers: IncomingHttpHeaders;
    /** 0 when the socket was reset by a `destroy` fault. */
    status: number;
    /** The rate-limit window the request counted in (1, 2, …) and the points left after it; absent for unauthenticated requests. */
    rateWindow?: number;
    rateRemaining?: number;
}

export interface FakeNangoOptions {
    apiKey: string;
    /** Epoch-microsecond clock stamping mutations; default `createMicroClock()`. */
    now?: () => bigint;
    /** Wall clock for the 12-month `modified_after` lookback and rate-limit windows; default Date.now. */
    wallClockMs?: () => number;
    /** Request log cap (oldest dropped); default 10,000; 0 disables the log. */
    maxLog?: number;
    /** Points per window reported in X-RateLimit-*; enforced (429) only when `enforceRateLimit`. */
    rateLimitPerMinute?: number;
    enforceRateLimit?: boolean;
    /** The window's length: Nango's is 60 s; tests shorten it. @default 60000 */
    rateLimitWindowMs?: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const RECORDS_429 = { error: { code: 'too_many_request', method: 'GET', path: '/records' } };
const CONNECTIONS_KEYS = ['connectionId', 'search', 'endUserId', 'integrationId', 'endUserOrganizationId', 'tags', 'limit', 'page'];
/** Before Nango PRs #5233/#5234/#5274 (2026-01): no limit, page or tags. */
const LEGACY_CONNECTIONS_KEYS = ['connectionId', 'search', 'endUserId', 'integrationId', 'endUserOrganizationId'];
const COMMA = Buffer.from(',');
const PAGE_END = Buffer.from(']}');
const UUID_V4_LIKE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function authError(code: string, message: string): object {
    return { error: { message: `Authentication failed. ${message}`, code } };
}

export class FakeNango {
    readonly store: FakeRecordStore;
    readonly requests: LoggedRequest[] = [];
    requestCount = 0;
    baseUrl: string | undefined;

    private readonly apiKey: string;
    private readonly wallClockMs: () => number;
    private readonly maxLog: number;
    private readonly rateLimit: number;
    private readonly enforceRateLimit: boolean;
    private readonly rateWindowMs: number;
    /** Which window, counted from 1, and the points left after the last request: tests read them per request. */
    private windowNumber = 0;
    private readonly rateOf = new WeakMap<IncomingMessage, { window: number; remaining: number }>();
    private server: Server | undefined;
    private readonly timers = new Set<NodeJS.Timeout>();
    /** Byte budget per records page (0 = off), like Nango's RECORDS_MAX_RESPONSE_SIZE_BYTES. */
    maxResponseBytes = 0;
    /** Gzip every answer to a request that accepts it, as a load balancer in front of Nango may. */
    gzipAnswers = false;
    private injector: FaultInjector | undefined;
    private readonly faultQueue: Array<{ path: FakeRoute; make: () => Fault }> = [];
    private readonly integrations = new Map<string, FakeIntegration>();
    private readonly connectionMeta = new Map<string, FakeConnectionMeta>();
    /** What `setConnectionTags` gave a connection: its `tags` and `end_user` in `GET /connections`. */
    private readonly connectionTags = new Map<string, { tags: Record<string, string>; endUser: { id: string; organizationId?: string } | null }>();
    private nextConnectionId = 1;
    private nextSyncId = 1;
    /** When the last sync run that changed each (integration, connection, model, variant) finished: `GET /sync/status`'s finishedAt. */
    private readonly runFinishedMs = new Map<string, number>();
    /** Answer `GET /connections` like Nango before 2026-01: `limit`, `page` and `tags` are unknown keys (400). */
    legacyConnectionsQuery = false;
    private windowStartMs = 0;
    private windowUsed = 0;

    constructor(opts: FakeNangoOptions) {
        this.apiKey = opts.apiKey;
        this.store = new FakeRecordStore(opts.now ?? createMicroClock());
        this.wallClockMs = opts.wallClockMs ?? Date.now;
        this.maxLog = opts.maxLog ?? 10_000;
        this.rateLimit = opts.rateLimitPerMinute ?? 1_000_000;
        this.enforceRateLimit = opts.enforceRateLimit ?? false;
        this.rateWindowMs = opts.rateLimitWindowMs ?? 60_000;
    }

    // ---- lifecycle -------------------------------------------------------------------------

    /** Listens and resolves with the base URL, e.g. `http://127.0.0.1:41234`. */
    async start(port = 0, host = '127.0.0.1'): Promise<string> {
        const server = createServer((req, res) => this.handle(req, res));
        this.server = server;
        this.baseUrl = await listenOn(server, port, host);
        return this.baseUrl;
    }

    /** Closes the server and every socket, keep-alive ones included, and drops pending delays. */
    async stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        await closeServer(server, this.timers);
    }

    // ---- data (delegates to the store) ------------------------------------------------------

    addConnection(providerConfigKey: string, connectionId: string): void {
        this.store.addConnection(providerConfigKey, connectionId);
        this.track(providerConfigKey, connectionId);
    }
    /** The connection's tags and connect-session end user, as `GET /connections` lists them (the filters still ignore them). */
    setConnectionTags(providerConfigKey: string, connectionId: string, tags: Record<string, string>, endUser: { id: string; organizationId?: string } | null = null): void {
        this.connectionTags.set(`${providerConfigKey}\n${connectionId}`, { tags, endUser });
    }
    deleteConnection(providerConfigKey: string, connectionId: string): boolean {
        this.connectionMeta.delete(`${providerConfigKey}\n${connectionId}`);
        return this.store.deleteConnection(providerConfigKey, connectionId);
    }
    save(key: StoreKey, records: Iterable<RecordInput>): MutationResult {
        return this.tracked(key, this.store.save(key, records));
    }
    batchDelete(key: StoreKey, objects: Iterable<RecordInput>): MutationResult {
        return this.tracked(key, this.store.batchDelete(key, objects));
    }
    trackDelete(key: StoreKey, ids: Iterable<string | number>): MutationResult {
        return this.tracked(key, this.store.trackDelete(key, ids));
    }
    prune(key: StoreKey, ids?: Iterable<string | number>): number {
        return this.tracked(key, this.store.prune(key, ids));
    }
    emptyCache(key: StoreKey): number {
        return this.tracked(key, this.store.emptyCache(key));
    }
    saveGenerated(key: StoreKey, count: number, makeRecord: (i: number) => RecordInput, batchSize = 1000): MutationResult {
        return this.tracked(key, this.store.saveGenerated(key, count, makeRecord, batchSize));
    }

    /**
     * Deploys `syncs` on an integration, replacing its earlier ones (an empty list removes them),
     * for `GET /scripts/config`. `provider` defaults to the integration's earlier provider, else
     * its providerConfigKey; connections of the integration report it too.
     */
    setSyncs(providerConfigKey: string, syncs: readonly FakeSync[], options: { provider?: string } = {}): void {
        const provider = options.provider ?? this.integrations.get(providerConfigKey)?.provider ?? providerConfigKey;
        const deployedMs = this.wallClockMs();
        this.integrations.set(providerConfigKey, { provider, syncs: syncs.map((sync) => ({ ...sync, id: this.nextSyncId++, deployedMs })) });
    }

    /**
     * Serves `entries` as `GET /scripts/config`'s answer, as is (e.g. the files of
     * test/fixtures/scripts-config/), instead of what `setSyncs` deployed; `undefined` goes back to
     * `setSyncs`'s.
     */
    setScriptsConfig(entries: readonly unknown[] | undefined): void {
        this.rawScriptsConfig = entries;
    }

    private rawScriptsConfig: readonly unknown[] | undefined;

    /** Connections appear in `GET /connections` from their first use, in the order Nango creates them. */
    private track(providerConfigKey: string, connectionId: string): void {
        const k = `${providerConfigKey}\n${connectionId}`;
        if (!this.store.hasConnection(providerConfigKey, connectionId)) {
            this.connectionMeta.delete(k);
        } else if (!this.connectionMeta.has(k)) {
            this.connectionMeta.set(k, { id: this.nextConnectionId++, providerConfigKey, connectionId, createdMs: this.wallClockMs() });
        }
    }

    private tracked<T>(key: StoreKey, result: T): T {
        this.track(key.providerConfigKey, key.connectionId);
        // A change to the data stands for a sync run that made it: the run finished now.
        this.runFinishedMs.set(JSON.stringify([key.providerConfigKey, key.connectionId, key.model, key.variant ?? 'base']), this.wallClockMs());
        return result;
    }
    records(key: StoreKey): Map<string, RecordState> {
        return this.store.records(key);
    }

    // ---- faults -----------------------------------------------------------------------------

    /** Sets (or with undefined clears) a function consulted for every records request. */
    inject(fn: FaultInjector | undefined): void {
        this.injector = fn;
    }

    /** Applies `fault` to the next `n` requests to `path` (queued faults run before `inject`). */
    failNext(n: number, fault: Fault, path: FakeRoute = '/records'): void {
        for (let i = 0; i < n; i++) this.faultQueue.push({ path, make: () => fault });
    }

    /** The next `times` requests to `path` get Nango's 429 with Retry-After and X-RateLimit-*. */
    rateLimit429(times: number, retryAfterSeconds = 0, path: FakeRoute = '/records'): void {
        for (let i = 0; i < times; i++) this.faultQueue.push({ path, make: () => this.rateLimitedAnswer(retryAfterSeconds, path) });
    }

    /**
     * A share of `GET /records` requests (`random() < share`, one draw each) get the same 429 until
     * `clearFaults` (or `inject`) replaces it: a rate limit the app keeps hitting, for benches.
     */
    rateLimit429Share(share: number, retryAfterSeconds: number, random: () => number): void {
        this.inject(() => (random() < share ? this.rateLimitedAnswer(retryAfterSeconds, '/records') : undefined));
    }

    private rateLimitedAnswer(retryAfterSeconds: number, path: FakeRoute): Fault {
        return {
            status: 429,
            body: path === '/records' ? RECORDS_429 : { error: { code: 'too_many_request', method: 'GET', path } },
            headers: {
                'Retry-After': String(retryAfterSeconds),
                'X-RateLimit-Limit': String(this.rateLimit),
                'X-RateLimit-Remaining': '0',
                'X-RateLimit-Reset': String(Math.ceil(this.wallClockMs() / 1000) + retryAfterSeconds)
            }
        };
    }

    clearFaults(): void {
        this.faultQueue.length = 0;
        this.injector = undefined;
    }

    // ---- HTTP -------------------------------------------------------------------------------

    private handle(req: IncomingMessage, res: ServerResponse): void {
        const n = ++this.requestCount;
        req.resume(); // a GET body is ignored, but must be drained for keep-alive
        const url = new URL(req.url ?? '/', 'http://fake.invalid');
        const log = (status: number): void => this.log(n, req, url, status);
        const route = req.method === 'GET' ? routeOf(url.pathname) : undefined;
        if (!route) {
            this.send(res, log, 404, { error: { code: 'not_found', message: `Route not found: ${req.method ?? ''} ${url.pathname}` } });
            return;
        }
        const queued = this.faultQueue.findIndex((f) => f.path === route);
        const fault =
            (queued >= 0 ? this.faultQueue.splice(queued, 1)[0]!.make() : undefined) ??
            (route === '/records' ? this.injector?.({ path: route, query: url.searchParams, headers: req.headers, n }) : undefined);
        if (!fault) {
            this.serve(route, req, res, url, log);
            return;
        }
        const apply = (): void => {
            if (fault.destroy) {
                log(0);
                if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
                else req.socket.destroy();
            } else if (fault.status === undefined) {
                this.serve(route, req, res, url, log);
            } else {
                this.send(res, log, fault.status, fault.body ?? { error: { code: 'injected_fault', message: 'Injected by FakeNango' } }, fault.headers);
            }
        };
        const applyWhenReleased = fault.until ? () => void fault.until!.then(apply, apply) : apply;
        if (fault.delayMs && fault.delayMs > 0) {
            const t = setTimeout(() => {
                this.timers.delete(t);
                applyWhenReleased();
            }, fault.delayMs);
            this.timers.add(t);
        } else {
            applyWhenReleased();
        }
    }

    private serve(route: FakeRoute, req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        if (route === '/records') this.serveRecords(req, res, url, log);
        else if (route === '/connections') this.serveConnections(req, res, url, log);
        else if (route === '/sync/status') this.serveSyncStatus(req, res, url, log);
        else this.serveScriptsConfig(req, res, url, log);
    }

    /**
     * `GET /sync/status` (getSyncStatus.ts; protocol §6.1) without `connection_id`: one item per
     * (enabled sync, variant, connection) of the integration, in the key order of
     * `syncManager.syncStatus()`. The base variant is listed for every connection, a variant once
     * the fake has data for it. `finishedAt` is when data of the item last changed (a "sync run");
     * without any change the sync never ran: `SUCCESS` with no finishedAt. `recordCount` counts live
     * records, pruned ones included, of the base variant (Nango's TODO on variants).
     */
    private serveSyncStatus(req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        const headers = this.authorize(req, res, log, { error: { code: 'too_many_request', method: 'GET', path: url.pathname } });
        if (!headers) return;
        const raw = parseQueryString(url.search);
        const issues: { code: string; message: string; path: string[] }[] = [];
        for (const key of raw.keys()) {
            if (!['provider_config_key', 'syncs', 'connection_id'].includes(key)) issues.push({ code: 'unrecognized_keys', message: `Unrecognized key: "${key}"`, path: [] });
        }
        const text = (name: string): string | undefined => {
            const value = raw.get(name);
            if (value === undefined) return undefined;
            if (value.kind !== 'string') issues.push({ code: 'invalid_type', message: `Invalid input: expected string, received ${value.kind}`, path: [name] });
            return value.kind === 'string' ? value.value : undefined;
        };
        const providerConfigKey = text('provider_config_key');
        const syncs = text('syncs');
        if (raw.has('connection_id')) issues.push({ code: 'not_supported', message: 'the fake answers GET /sync/status without connection_id only', path: ['connection_id'] });
        if (providerConfigKey === undefined && !raw.has('provider_config_key')) issues.push({ code: 'invalid_type', message: 'Invalid input: expected string, received undefined', path: ['provider_config_key'] });
        if (syncs === undefined && !raw.has('syncs')) issues.push({ code: 'invalid_type', message: 'Invalid input: expected string, received undefined', path: ['syncs'] });
        if (providerConfigKey !== undefined && (!/^[a-zA-Z0-9~:.@ _-]+$/.test(providerConfigKey) || providerConfigKey.length > 255)) {
            issues.push({ code: 'invalid_format', message: 'Invalid string', path: ['provider_config_key'] });
        }
        if (issues.length > 0 || providerConfigKey === undefined || syncs === undefined) {
            this.send(res, log, 400, { error: { code: 'invalid_query_params', errors: issues } }, headers);
            return;
        }
        const wanted = syncs === '*' ? undefined : syncs.split(',').map((s) => { const [name, variant = 'base'] = s.split('::'); return `${name}::${variant}`; });
        const integration = this.integrations.get(providerConfigKey);
        const items: object[] = [];
        const connections = [...this.connectionMeta.values()].filter((c) => c.providerConfigKey === providerConfigKey && this.store.hasConnection(c.providerConfigKey, c.connectionId));
        /** Per connection of the integration, per model: the variants that have data. */
        const variantsOf = new Map<string, Map<string, Set<string>>>();
        for (const k of this.runFinishedMs.keys()) {
            const [pck, conn, model, variant] = JSON.parse(k) as [string, string, string, string];
            if (pck !== providerConfigKey) continue;
            const byModel = variantsOf.get(conn) ?? new Map<string, Set<string>>();
            variantsOf.set(conn, byModel);
            byModel.set(model, (byModel.get(model) ?? new Set<string>()).add(variant));
        }
        for (const sync of integration?.syncs ?? []) {
            // A disabled function's sync rows are soft-deleted: they vanish from this answer.
            if (sync.enabled === false) continue;
            for (const c of connections) {
                const variants = new Set(['base']);
                for (const model of sync.models) for (const v of variantsOf.get(c.connectionId)?.get(model) ?? []) variants.add(v);
                for (const variant of variants) {
                    if (wanted && !wanted.includes(`${sync.name}::${variant}`)) continue;
                    const finished = Math.max(...sync.models.map((model) => this.runFinishedMs.get(JSON.stringify([providerConfigKey, c.connectionId, model, variant])) ?? -Infinity));
                    const recordCount = Object.fromEntries(
                        sync.models.map((model) => [model, [...this.store.records({ providerConfigKey, connectionId: c.connectionId, model, variant: 'base' }).values()].filter((r) => !r.deleted).length]),
                    );
                    const ran = Number.isFinite(finished);
                    items.push({
                        id: `00000000-0000-4000-8000-${String(sync.id).padStart(6, '0')}${String(c.id).padStart(6, '0')}`,
                        connection_id: c.connectionId,
                        type: 'INITIAL',
                        ...(ran ? { finishedAt: new Date(finished).toISOString() } : {}),
                        nextScheduledSyncAt: null,
                        name: sync.name,
                        variant,
                        status: 'SUCCESS',
                        frequency: null,
                        ...(ran ? { latestResult: {}, latestExecutionStatus: 'SUCCESS' } : {}),
                        recordCount,
                        checkpoint: null,
                    });
                }
            }
        }
        this.send(res, log, 200, { syncs: items }, headers);
    }

    /** `jsonContentTypeMiddleware` → `secretKeyAuth` → `rateLimiterMiddleware`: the rate-limit headers, or undefined once answered. */
    private authorize(req: IncomingMessage, res: ServerResponse, log: (status: number) => void, body429: object): Record<string, string> | undefined {
        const contentType = req.headers['content-type'];
        if (contentType !== undefined && !contentType.startsWith('application/json')) {
            this.send(res, log, 415, { error: { code: 'invalid_content_type', message: 'Content-Type must be application/json' } });
            return undefined;
        }

        const auth = req.headers.authorization;
        if (!auth) {
            this.send(res, log, 401, authError('missing_auth_header', 'The request is missing the Authorization header.'));
            return undefined;
        }
        const bearer = /^Bearer (.+)$/.exec(auth);
        if (!bearer) {
            this.send(res, log, 401, authError('malformed_auth_header', 'The Authorization header must be "Bearer <secret key>".'));
            return undefined;
        }
        if (bearer[1] !== this.apiKey) {
            const code = UUID_V4_LIKE.test(bearer[1]!) ? 'unknown_account' : 'invalid_secret_key_format';
            this.send(res, log, 401, authError(code, 'The provided secret key is invalid.'));
            return undefined;
        }

        const rate = this.consumeRatePoint();
        this.rateOf.set(req, rate);
        if (rate.limited) {
            this.send(res, log, 429, body429, rate.headers);
            return undefined;
        }
        return rate.headers;
    }

    private serveRecords(req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        const headers = this.authorize(req, res, log, RECORDS_429);
        if (!headers) return;

        const query = validateRecordsQuery(parseQueryString(url.search), this.wallClockMs());
        if (!query.ok) {
            this.send(res, log, 400, { error: { code: 'invalid_query_params', errors: query.errors } }, headers);
            return;
        }
        const conn = validateRecordsHeaders(req.headers);
        if (!conn.ok) {
            this.send(res, log, 400, { error: { code: 'invalid_headers', errors: conn.errors } }, headers);
            return;
        }
        const { providerConfigKey, connectionId } = conn.value;
        if (!this.store.hasConnection(providerConfigKey, connectionId)) {
            const message = 'Provided ConnectionId and ProviderConfigKey does not match a valid connection';
            this.send(res, log, 400, { error: { code: 'unknown_connection', message } }, headers);
            return;
        }

        const q = query.value;
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
        if (q.cursor !== undefined && !after) {
            this.send(res, log, 500, { error: { code: 'server_error', message: 'Failed to fetch records' } }, headers);
            return;
        }
        // knex parseInt()s `limit + 1`; hasMore compares with the unrounded `limit + 1`, as Nango does.
        const rows =
            this.store.query(providerConfigKey, connectionId, q.storeModel, {
                after,
                modifiedAfterMicros: q.modifiedAfter === undefined ? undefined : BigInt(new Date(q.modifiedAfter).getTime()) * 1000n,
                filter: q.filter === undefined ? undefined : filterPredicate(q.filter),
                externalIds: q.ids,
                fetch: Math.trunc(q.limit + 1)
            }) ?? [];
        let hasMore = rows.length >= q.limit + 1;
        if (hasMore) rows.pop();
        // RECORDS_MAX_RESPONSE_SIZE_BYTES (Nango PR #6187): a page cut short by size keeps at
        // least one row and still sets next_cursor, so records.length < limit is not the end.
        if (this.maxResponseBytes > 0) {
            let bytes = 0;
            const fit = rows.findIndex((rec, i) => (bytes += rec.head().length + rec.meta.length) > this.maxResponseBytes && i > 0);
            if (fit > 0) {
                rows.length = fit;
                hasMore = true;
            }
        }
        const last = rows[rows.length - 1];
        const nextCursor = hasMore && last ? last.cursor : null;

        const parts: Buffer[] = [Buffer.from(`{"next_cursor":${nextCursor === null ? 'null' : `"${nextCursor}"`},"records":[`)];
        rows.forEach((rec, i) => {
            if (i > 0) parts.push(COMMA);
            parts.push(rec.head(), rec.meta);
        });
        parts.push(PAGE_END);
        this.sendRaw(res, log, 200, Buffer.concat(parts), JSON_TYPE, headers);
    }

    private connectionTagsOf(c: FakeConnectionMeta): { end_user: unknown; tags: Record<string, string> } {
        const set = this.connectionTags.get(`${c.providerConfigKey}\n${c.connectionId}`);
        if (!set) return { end_user: null, tags: {} };
        const endUser = set.endUser && { id: set.endUser.id, display_name: null, email: null, tags: null, organization: set.endUser.organizationId ? { id: set.endUser.organizationId, display_name: null } : null };
        return { end_user: endUser, tags: set.tags };
    }

    private serveConnections(req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        const headers = this.authorize(req, res, log, { error: { code: 'too_many_request', method: 'GET', path: url.pathname } });
        if (!headers) return;
        const query = validateConnectionsQuery(parseQueryString(url.search), this.legacyConnectionsQuery ? LEGACY_CONNECTIONS_KEYS : CONNECTIONS_KEYS);
        if (!query.ok) {
            this.send(res, log, 400, { error: { code: 'invalid_query_params', errors: query.errors } }, headers);
            return;
        }
        const q = query.value;
        const integrationIds = q.integrationId?.split(',').map((id) => id.trim());
        const search = q.search?.toLowerCase();
        // `limit || 10_000`; then `.limit(limit).offset(page * limit)`.
        const limit = q.limit || 10_000;
        const offset = (q.page ?? 0) * limit;
        const rows = [...this.connectionMeta.values()]
            .filter((c) => this.store.hasConnection(c.providerConfigKey, c.connectionId))
            .filter((c) => q.connectionId === undefined || c.connectionId === q.connectionId)
            .filter((c) => !integrationIds || integrationIds.includes(c.providerConfigKey))
            // The fake's connections have no end user and no tags: those filters match nothing.
            .filter(() => q.endUserId === undefined && q.endUserOrganizationId === undefined && !q.hasTags)
            .filter((c) => search === undefined || c.connectionId.toLowerCase().includes(search))
            .sort((a, b) => b.createdMs - a.createdMs || b.id - a.id)
            .slice(offset, offset + limit);
        this.send(res, log, 200, {
            connections: rows.map((c) => ({
                id: c.id,
                connection_id: c.connectionId,
                provider_config_key: c.providerConfigKey,
                provider: this.integrations.get(c.providerConfigKey)?.provider ?? c.providerConfigKey,
                errors: [],
                ...this.connectionTagsOf(c),
                metadata: null,
                created: toPostgresJson(BigInt(c.createdMs) * 1000n)
            }))
        }, headers);
    }

    private serveScriptsConfig(req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        const headers = this.authorize(req, res, log, { error: { code: 'too_many_request', method: 'GET', path: url.pathname } });
        if (!headers) return;
        // `getSyncConfigsAsStandardConfig`: ORDER BY sync_name, grouped by provider.
        const rows = [...this.integrations.entries()]
            .flatMap(([providerConfigKey, integration]) => integration.syncs.map((sync) => ({ providerConfigKey, provider: integration.provider, sync })))
            .sort((a, b) => (a.sync.name < b.sync.name ? -1 : a.sync.name > b.sync.name ? 1 : 0));
        const byProvider = new Map<string, { actions: never[]; providerConfigKey: string; provider: string; syncs: object[]; 'on-events': never[] }>();
        for (const { providerConfigKey, provider, sync } of rows) {
            let entry = byProvider.get(provider);
            if (!entry) byProvider.set(provider, (entry = { actions: [], providerConfigKey, provider, syncs: [], 'on-events': [] }));
            entry.syncs.push({
                id: sync.id,
                name: sync.name,
                type: 'sync',
                returns: sync.models,
                description: '',
                attributes: {},
                scopes: [],
                version: '1',
                source: 'repo',
                endpoints: sync.models.map((model) => ({ method: 'GET', path: `/${model.toLowerCase()}s`, group: null })),
                enabled: sync.enabled ?? true,
                last_deployed: new Date(sync.deployedMs).toISOString(),
                webhookSubscriptions: [],
                json_schema: { definitions: Object.fromEntries(sync.models.map((model) => [model, { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }])) },
                sdk_version: null,
                models: sync.models.map((name) => ({ name, fields: [{ name: 'id', type: 'string' }] })),
                features: [],
                sync_type: sync.syncType ?? 'full',
                auto_start: sync.autoStart ?? true,
                runs: sync.runs ?? 'every day',
                track_deletes: sync.trackDeletes ?? false
            });
        }
        const configs = (this.rawScriptsConfig ?? [...byProvider.values()]) as Array<{ provider: string; syncs: object[] }>;
        if (url.searchParams.get('format') === 'openai') {
            const data = configs.flatMap((c) =>
                c.syncs.map((s) => {
                    const name = (s as { name: string }).name;
                    return { name, description: `Execute the ${name} sync for ${c.provider}`, parameters: { type: 'object', properties: {}, required: [] } };
                })
            );
            this.send(res, log, 200, { data }, headers);
            return;
        }
        this.send(res, log, 200, configs, headers);
    }

    /**
     * rate-limiter-flexible's fixed window (protocol §4.8): it starts with the first request after the
     * last one expired, one point per authenticated request, `Reset` floored to epoch seconds.
     */
    private consumeRatePoint(): { limited: boolean; headers: Record<string, string>; window: number; remaining: number } {
        const now = this.wallClockMs();
        if (now >= this.windowStartMs + this.rateWindowMs) {
            this.windowStartMs = now;
            this.windowUsed = 0;
            this.windowNumber++;
        }
        this.windowUsed++;
        const msBeforeNext = this.windowStartMs + this.rateWindowMs - now;
        const limited = this.enforceRateLimit && this.windowUsed > this.rateLimit;
        const remaining = Math.max(0, this.rateLimit - this.windowUsed);
        const headers: Record<string, string> = {
            'X-RateLimit-Limit': String(this.rateLimit),
            'X-RateLimit-Remaining': String(remaining),
            'X-RateLimit-Reset': String(Math.floor((now + msBeforeNext) / 1000)),
        };
        if (limited) headers['Retry-After'] = String(Math.floor(msBeforeNext / 1000));
        return { limited, headers, window: this.windowNumber, remaining };
    }

    private send(res: ServerResponse, log: (status: number) => void, status: number, body: string | object, headers?: Record<string, string>): void {
        const isText = typeof body === 'string';
        const buf = Buffer.from(isText ? body : JSON.stringify(body));
        this.sendRaw(res, log, status, buf, isText ? 'text/plain; charset=utf-8' : JSON_TYPE, headers);
    }

    private sendRaw(res: ServerResponse, log: (status: number) => void, status: number, body: Buffer, contentType: string, headers?: Record<string, string>): void {
        log(status);
        const hasType = headers !== undefined && Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
        const gzip = this.gzipAnswers && /\bgzip\b/.test(String(res.req.headers['accept-encoding'] ?? ''));
        const sent = gzip ? gzipSync(body) : body;
        res.writeHead(status, { ...(hasType ? {} : { 'Content-Type': contentType }), ...(gzip ? { 'Content-Encoding': 'gzip' } : {}), 'Content-Length': String(sent.length), ...headers });
        res.end(sent);
    }

    private log(n: number, req: IncomingMessage, url: URL, status: number): void {
        if (this.maxLog <= 0) return;
        const query: Record<string, string | string[]> = {};
        for (const [k, v] of url.searchParams) {
            const prev = query[k];
            query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        const rate = this.rateOf.get(req);
        this.requests.push({ n, method: req.method ?? '', path: url.pathname, query, headers: req.headers, status, ...(rate ? { rateWindow: rate.window, rateRemaining: rate.remaining } : {}) });
        if (this.requests.length > this.maxLog) this.requests.splice(0, this.requests.length - this.maxLog);
    }
}

function routeOf(pathname: string): FakeRoute | undefined {
    // Express routing is not strict: a trailing slash reaches the same handler.
    const path = pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
    if (path === '/records') return '/records';
    if (path === '/connections' || path === '/connection') return '/connections';
    if (path === '/scripts/config') return '/scripts/config';
    if (path === '/sync/status') return '/sync/status';
    return undefined;
}

interface ConnectionsQuery {
    connectionId?: string;
    search?: string;
    endUserId?: string;
    integrationId?: string;
    endUserOrganizationId?: string;
    hasTags: boolean;
    limit?: number;
    page?: number;
}

type RawQuery = ReturnType<typeof parseQueryString>;
type Issue = { code: string; message: string; path: (string | number)[] };

/** `getPublicConnections`' `validationQuery` (zod 4, `.strict()`), with zod's issue codes and messages. */
function validateConnectionsQuery(raw: RawQuery, allowed: readonly string[]): { ok: true; value: ConnectionsQuery } | { ok: false; errors: Issue[] } {
    const issues: Issue[] = [];
    const value: ConnectionsQuery = { hasTags: false };
    const str = (key: 'connectionId' | 'search' | 'endUserId' | 'integrationId' | 'endUserOrganizationId', max: number): void => {
        const v = raw.get(key);
        if (v === undefined) return;
        if (v.kind !== 'string') {
            issues.push({ code: 'invalid_type', message: `Invalid input: expected string, received ${v.kind}`, path: [key] });
            return;
        }
        if (v.value.length < 1) issues.push({ code: 'too_small', message: 'Too small: expected string to have >=1 characters', path: [key] });
        if (v.value.length > max) issues.push({ code: 'too_big', message: `Too big: expected string to have <=${max} characters`, path: [key] });
        value[key] = v.value;
    };
    const num = (key: 'limit' | 'page', min: number, max: number): void => {
        const v = raw.get(key);
        if (v === undefined || !allowed.includes(key)) return;
        // z.coerce.number(): Number(value); an array coerces through its string form.
        const n = Number(v.kind === 'string' ? v.value : v.kind === 'array' ? v.values.join(',') : NaN);
        if (!Number.isFinite(n)) issues.push({ code: 'invalid_type', message: `Invalid input: expected number, received ${Number.isNaN(n) ? 'NaN' : 'Infinity'}`, path: [key] });
        else if (n < min) issues.push({ code: 'too_small', message: `Too small: expected number to be >=${min}`, path: [key] });
        else if (n > max) issues.push({ code: 'too_big', message: `Too big: expected number to be <=${max}`, path: [key] });
        else value[key] = n;
    };
    str('connectionId', 255);
    str('search', 255);
    str('endUserId', 255);
    str('integrationId', Number.MAX_SAFE_INTEGER);
    str('endUserOrganizationId', 255);
    const tags = raw.get('tags');
    if (tags !== undefined && allowed.includes('tags')) {
        if (tags.kind !== 'object') issues.push({ code: 'invalid_type', message: `Invalid input: expected record, received ${tags.kind}`, path: ['tags'] });
        else value.hasTags = true;
    }
    num('limit', 1, 2000);
    num('page', 0, Number.POSITIVE_INFINITY);
    const unknown = [...raw.keys()].filter((k) => !allowed.includes(k));
    if (unknown.length > 0) {
        const list = unknown.map((k) => `"${k}"`).join(', ');
        issues.push({ code: 'unrecognized_keys', message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${list}`, path: [] });
    }
    return issues.length > 0 ? { ok: false, errors: issues } : { ok: true, value };
}

export function createFakeNango(opts: FakeNangoOptions): FakeNango {
    return new FakeNango(opts);
}
