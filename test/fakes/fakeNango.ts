/**
 * Fake Nango `GET /records` server over real HTTP (`node:http`, no framework), following
 * /work/shared/nango-protocol.md §4 strictly, plus fault injection and a request log.
 *
 * Middleware order is Nango's: content type (415) → API key (401) → rate limit (429) →
 * query (400 invalid_query_params) → headers (400 invalid_headers) → connection
 * (400 unknown_connection) → cursor (500 server_error) → page. Injected faults run first,
 * like a load balancer in front of Nango.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { decodeCursor } from './fakeCursor.js';
import { FakeRecordStore, type MutationResult, type RecordInput, type RecordState, type StoreKey } from './fakeRecordStore.js';
import { filterPredicate, parseQueryString, validateRecordsHeaders, validateRecordsQuery } from './fakeRecordsQuery.js';
import { createMicroClock } from './nangoTime.js';

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

export interface FaultRequest {
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
}

export interface FakeNangoOptions {
    apiKey: string;
    /** Epoch-microsecond clock stamping mutations; default `createMicroClock()`. */
    now?: () => bigint;
    /** Wall clock for the 12-month `modified_after` lookback and rate-limit windows; default Date.now. */
    wallClockMs?: () => number;
    /** Request log cap (oldest dropped); default 10,000; 0 disables the log. */
    maxLog?: number;
    /** Points per 60 s window reported in X-RateLimit-*; enforced (429) only when `enforceRateLimit`. */
    rateLimitPerMinute?: number;
    enforceRateLimit?: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const RECORDS_429 = { error: { code: 'too_many_request', method: 'GET', path: '/records' } };
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
    private server: Server | undefined;
    private readonly timers = new Set<NodeJS.Timeout>();
    /** Byte budget per records page (0 = off), like Nango's RECORDS_MAX_RESPONSE_SIZE_BYTES. */
    maxResponseBytes = 0;
    private injector: FaultInjector | undefined;
    private readonly faultQueue: Array<() => Fault> = [];
    private windowStartMs = 0;
    private windowUsed = 0;

    constructor(opts: FakeNangoOptions) {
        this.apiKey = opts.apiKey;
        this.store = new FakeRecordStore(opts.now ?? createMicroClock());
        this.wallClockMs = opts.wallClockMs ?? Date.now;
        this.maxLog = opts.maxLog ?? 10_000;
        this.rateLimit = opts.rateLimitPerMinute ?? 1_000_000;
        this.enforceRateLimit = opts.enforceRateLimit ?? false;
    }

    // ---- lifecycle -------------------------------------------------------------------------

    /** Listens and resolves with the base URL, e.g. `http://127.0.0.1:41234`. */
    async start(port = 0, host = '127.0.0.1'): Promise<string> {
        const server = createServer((req, res) => this.handle(req, res));
        this.server = server;
        await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, host, () => {
                server.off('error', reject);
                resolve();
            });
        });
        const addr = server.address() as AddressInfo;
        this.baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
        return this.baseUrl;
    }

    /** Closes the server and every socket, keep-alive ones included, and drops pending delays. */
    async stop(): Promise<void> {
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        const server = this.server;
        this.server = undefined;
        if (!server) return;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
    }

    // ---- data (delegates to the store) ------------------------------------------------------

    addConnection(providerConfigKey: string, connectionId: string): void {
        this.store.addConnection(providerConfigKey, connectionId);
    }
    deleteConnection(providerConfigKey: string, connectionId: string): boolean {
        return this.store.deleteConnection(providerConfigKey, connectionId);
    }
    save(key: StoreKey, records: Iterable<RecordInput>): MutationResult {
        return this.store.save(key, records);
    }
    batchDelete(key: StoreKey, objects: Iterable<RecordInput>): MutationResult {
        return this.store.batchDelete(key, objects);
    }
    trackDelete(key: StoreKey, ids: Iterable<string | number>): MutationResult {
        return this.store.trackDelete(key, ids);
    }
    prune(key: StoreKey, ids?: Iterable<string | number>): number {
        return this.store.prune(key, ids);
    }
    emptyCache(key: StoreKey): number {
        return this.store.emptyCache(key);
    }
    saveGenerated(key: StoreKey, count: number, makeRecord: (i: number) => RecordInput, batchSize = 1000): MutationResult {
        return this.store.saveGenerated(key, count, makeRecord, batchSize);
    }
    records(key: StoreKey): Map<string, RecordState> {
        return this.store.records(key);
    }

    // ---- faults -----------------------------------------------------------------------------

    /** Sets (or with undefined clears) a function consulted for every records request. */
    inject(fn: FaultInjector | undefined): void {
        this.injector = fn;
    }

    /** Applies `fault` to the next `n` records requests (queued faults run before `inject`). */
    failNext(n: number, fault: Fault): void {
        for (let i = 0; i < n; i++) this.faultQueue.push(() => fault);
    }

    /** The next `times` records requests get Nango's 429 with Retry-After and X-RateLimit-*. */
    rateLimit429(times: number, retryAfterSeconds = 0): void {
        for (let i = 0; i < times; i++) {
            this.faultQueue.push(() => ({
                status: 429,
                body: RECORDS_429,
                headers: {
                    'Retry-After': String(retryAfterSeconds),
                    'X-RateLimit-Limit': String(this.rateLimit),
                    'X-RateLimit-Remaining': '0',
                    'X-RateLimit-Reset': String(Math.ceil(this.wallClockMs() / 1000) + retryAfterSeconds)
                }
            }));
        }
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
        const isRecords = req.method === 'GET' && (url.pathname === '/records' || url.pathname === '/records/');
        if (!isRecords) {
            this.send(res, log, 404, { error: { code: 'not_found', message: `Route not found: ${req.method ?? ''} ${url.pathname}` } });
            return;
        }
        const fault = this.faultQueue.shift()?.() ?? this.injector?.({ query: url.searchParams, headers: req.headers, n });
        if (!fault) {
            this.serveRecords(req, res, url, log);
            return;
        }
        const apply = (): void => {
            if (fault.destroy) {
                log(0);
                if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
                else req.socket.destroy();
            } else if (fault.status === undefined) {
                this.serveRecords(req, res, url, log);
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

    private serveRecords(req: IncomingMessage, res: ServerResponse, url: URL, log: (status: number) => void): void {
        const contentType = req.headers['content-type'];
        if (contentType !== undefined && !contentType.startsWith('application/json')) {
            this.send(res, log, 415, { error: { code: 'invalid_content_type', message: 'Content-Type must be application/json' } });
            return;
        }

        const auth = req.headers.authorization;
        if (!auth) {
            this.send(res, log, 401, authError('missing_auth_header', 'The request is missing the Authorization header.'));
            return;
        }
        const bearer = /^Bearer (.+)$/.exec(auth);
        if (!bearer) {
            this.send(res, log, 401, authError('malformed_auth_header', 'The Authorization header must be "Bearer <secret key>".'));
            return;
        }
        if (bearer[1] !== this.apiKey) {
            const code = UUID_V4_LIKE.test(bearer[1]!) ? 'unknown_account' : 'invalid_secret_key_format';
            this.send(res, log, 401, authError(code, 'The provided secret key is invalid.'));
            return;
        }

        const rate = this.consumeRatePoint();
        if (rate.limited) {
            this.send(res, log, 429, RECORDS_429, rate.headers);
            return;
        }
        const headers = rate.headers;

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

    /** rate-limiter-flexible style fixed 60 s window, one point per authenticated request. */
    private consumeRatePoint(): { limited: boolean; headers: Record<string, string> } {
        const now = this.wallClockMs();
        if (now >= this.windowStartMs + 60_000) {
            this.windowStartMs = now;
            this.windowUsed = 0;
        }
        this.windowUsed++;
        const msBeforeNext = this.windowStartMs + 60_000 - now;
        const limited = this.enforceRateLimit && this.windowUsed > this.rateLimit;
        const headers: Record<string, string> = {
            'X-RateLimit-Limit': String(this.rateLimit),
            'X-RateLimit-Remaining': String(Math.max(0, this.rateLimit - this.windowUsed)),
            'X-RateLimit-Reset': String(Math.ceil((now + msBeforeNext) / 1000))
        };
        if (limited) headers['Retry-After'] = String(Math.floor(msBeforeNext / 1000));
        return { limited, headers };
    }

    private send(res: ServerResponse, log: (status: number) => void, status: number, body: string | object, headers?: Record<string, string>): void {
        const isText = typeof body === 'string';
        const buf = Buffer.from(isText ? body : JSON.stringify(body));
        this.sendRaw(res, log, status, buf, isText ? 'text/plain; charset=utf-8' : JSON_TYPE, headers);
    }

    private sendRaw(res: ServerResponse, log: (status: number) => void, status: number, body: Buffer, contentType: string, headers?: Record<string, string>): void {
        log(status);
        const hasType = headers !== undefined && Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
        res.writeHead(status, { ...(hasType ? {} : { 'Content-Type': contentType }), 'Content-Length': String(body.length), ...headers });
        res.end(body);
    }

    private log(n: number, req: IncomingMessage, url: URL, status: number): void {
        if (this.maxLog <= 0) return;
        const query: Record<string, string | string[]> = {};
        for (const [k, v] of url.searchParams) {
            const prev = query[k];
            query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        this.requests.push({ n, method: req.method ?? '', path: url.pathname, query, headers: req.headers, status });
        if (this.requests.length > this.maxLog) this.requests.splice(0, this.requests.length - this.maxLog);
    }
}

export function createFakeNango(opts: FakeNangoOptions): FakeNango {
    return new FakeNango(opts);
}
