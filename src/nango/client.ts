import { setTimeout as sleep } from 'node:timers/promises';
import type { SyncKey } from '../domain/syncKey.js';
import { BASE_VARIANT } from '../domain/syncKey.js';
import {
    NangoApiError,
    NangoNetworkError,
    isAuthError,
    isRetryable,
} from './errors.js';
import { backoffWithJitter } from '../lib/backoff.js';
import { createHttpGet, toHeaders, type HttpAnswer } from './httpGet.js';
import { retryAfterMs, type RateLimitGate } from './rateLimitGate.js';
import { readRateLimitHeaders, type RateLimitReading } from './rateBudget.js';

export interface RetryPolicy {
    /** Tries for 5xx, network errors and timeouts; 429s are waited out and do not count. */
    attempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
}

/** The two log levels the request loop writes at; a pino logger is one. */
export interface NangoClientLogger {
    warn(fields: object, msg: string): void;
    debug(fields: object, msg: string): void;
}

export interface NangoClientOptions {
    host: string;
    apiKey: string;
    timeoutMs: number;
    retry: RetryPolicy;
    gate: RateLimitGate;
    logger: NangoClientLogger;
    /** Told after every answer whether Nango accepted the API key (false on 401/403). */
    onAuthResult?: (ok: boolean) => void;
    /** Told about every answer, for metrics, with the request's `reason`. */
    onResponse?: (status: number | 'network_error', reason: string | undefined) => void;
    /** Told what every answer's `X-RateLimit-*` headers say (rateBudget.ts); answers without them are skipped. */
    onRateLimitReading?: (reading: RateLimitReading) => void;
    /**
     * Awaited before every request is sent, retries included: background callers (discovery, the
     * sync status) wait here while the API budget is inside its reserve.
     */
    beforeRequest?: (signal: AbortSignal | undefined) => Promise<void>;
    /** Told when a 429 closes the gate, and for how long. */
    onRateLimited?: (waitMs: number) => void;
    /** Told before each retry of a 5xx, network error or timeout. */
    onRetry?: (attempt: number, delayMs: number, error: string) => void;
}

export interface RecordsRequest {
    key: SyncKey;
    cursor: string | null;
    limit: number;
    signal?: AbortSignal;
    /** Why the pull runs, for the per-reason request count. */
    reason?: string;
}

export interface NangoClient {
    /** One `GET /records` page as its 2xx body, unparsed (scanRecordsPage.ts reads it), with timeout, retries and 429 waits applied. */
    getRecordsBody(request: RecordsRequest): Promise<Buffer>;
}

/** One authenticated GET against Nango's API. */
export interface NangoGetRequest {
    /** e.g. `/records`; appended to the host. */
    path: string;
    query: URLSearchParams;
    /** Sent besides `Authorization` and `Accept`. */
    headers?: Record<string, string>;
    signal?: AbortSignal;
    /** Why it is sent (a pull's reason, `discovery`, `sync_status`), passed to `onResponse`. */
    reason?: string;
}

/** Sends one GET with timeout, retries and 429 waits applied; resolves with the 2xx body. */
export type NangoGet = (request: NangoGetRequest) => Promise<string>;

/** `NangoGet`, resolving with the body's bytes. */
export type NangoGetBytes = (request: NangoGetRequest) => Promise<Buffer>;

/** The request loop of `createNangoGetBytes`, for answers read as text. */
export function createNangoGet(options: NangoClientOptions): NangoGet {
    const get = createNangoGetBytes(options);
    return async (request) => (await get(request)).toString('utf8');
}

/**
 * The request loop every Nango call shares: wait at the rate-limit gate, send with a timeout,
 * wait out a 429 (closing the gate for every caller of the same gate), retry 5xx, network errors
 * and timeouts with jittered backoff, and throw typed errors (errors.ts) for the rest.
 */
export function createNangoGetBytes(options: NangoClientOptions): NangoGetBytes {
    const base = options.host.replace(/\/+$/, '');
    const httpGet = createHttpGet();

    async function once(request: NangoGetRequest): Promise<Buffer> {
        const { path, query } = request;
        const timeout = AbortSignal.timeout(options.timeoutMs);
        const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
        const search = query.toString();
        let res: HttpAnswer;
        try {
            res = await httpGet(`${base}${path}${search ? `?${search}` : ''}`, {
                headers: {
                    authorization: `Bearer ${options.apiKey}`,
                    ...request.headers,
                    accept: 'application/json',
                },
                signal,
            });
        } catch (err) {
            if (request.signal?.aborted) throw err;
            options.onResponse?.('network_error', request.reason);
            const reason = timeout.aborted ? `timed out after ${options.timeoutMs} ms` : describeCause(err);
            throw new NangoNetworkError(`GET ${path} failed: ${reason}`, { cause: err });
        }
        options.onResponse?.(res.status, request.reason);
        const reading = options.onRateLimitReading && readRateLimitHeaders(res.headers);
        if (reading) options.onRateLimitReading!(reading);
        if (res.status < 200 || res.status > 299) throw toApiError(res);
        options.onAuthResult?.(true);
        return res.body;
    }

    return async (request) => {
        let failures = 0;
        for (;;) {
            await options.gate.wait(request.signal);
            await options.beforeRequest?.(request.signal);
            try {
                return await once(request);
            } catch (err) {
                if (request.signal?.aborted) throw request.signal.reason ?? err;
                if (err instanceof NangoApiError && err.status === 429) {
                    const ms = options.gate.closeFor(retryAfterMs(err.headers));
                    options.logger.warn({ waitMs: ms, path: request.path }, 'Nango rate limit reached (429); every key waits');
                    options.onRateLimited?.(ms);
                    continue;
                }
                if (isAuthError(err)) options.onAuthResult?.(false);
                failures++;
                if (!isRetryable(err) || failures >= options.retry.attempts) throw err;
                const delay = backoffWithJitter(failures, options.retry);
                options.logger.debug({ err: (err as Error).message, path: request.path, attempt: failures, delayMs: delay }, 'retrying Nango request');
                options.onRetry?.(failures, delay, (err as Error).message);
                await sleep(delay, undefined, request.signal ? { signal: request.signal } : {});
            }
        }
    };
}

/**
 * A thin client over node:http rather than @nangohq/node: the SDK (axios) has no timeout and no retry,
 * and we need the raw status, body and headers of every answer to honour 429s and classify errors.
 */
export function createNangoClient(options: NangoClientOptions): NangoClient {
    const get = createNangoGetBytes(options);
    const client: NangoClient = {
        async getRecordsBody(request) {
            const { key, cursor, limit } = request;
            // Only these keys: Nango rejects unknown ones, and `filter` combinations drop deleted rows.
            const query = new URLSearchParams({ model: key.model });
            if (key.variant !== BASE_VARIANT) query.set('variant', key.variant);
            if (cursor !== null) query.set('cursor', cursor);
            query.set('limit', String(limit));
            return get({
                path: '/records',
                query,
                headers: { 'connection-id': key.connectionId, 'provider-config-key': key.providerConfigKey },
                ...(request.signal ? { signal: request.signal } : {}),
                ...(request.reason ? { reason: request.reason } : {}),
            });
        },
    };
    return client;
}

function toApiError(res: HttpAnswer): NangoApiError {
    const body = res.body.toString('utf8');
    let code = `http_${res.status}`;
    let message = `Nango answered ${res.status}`;
    try {
        const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
        if (typeof parsed.error?.code === 'string') code = parsed.error.code;
        if (typeof parsed.error?.message === 'string') message += `: ${parsed.error.message}`;
        else message += ` ${code}`;
    } catch {
        // A load balancer's HTML page: keep the status as the code.
    }
    return new NangoApiError(res.status, code, message, toHeaders(res.headers), body.slice(0, 2000));
}

function describeCause(err: unknown): string {
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    return e.code ?? e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/**
 * `next_cursor` read from the body's first or last key without parsing it, or undefined when it is
 * not there (whichever of the two keys the server renders first). Only a guess: the caller asks for
 * the next page early with it and checks it against the scanned page.
 */
export function peekNextCursor(body: Buffer): string | null | undefined {
    const head = body.toString('latin1', 0, 2048);
    const found = /^\{"next_cursor":(null|"[^"\\]*")/.exec(head) ?? /"next_cursor":(null|"[^"\\]*")\}\s*$/.exec(body.toString('latin1', Math.max(0, body.length - 2048)));
    if (!found) return undefined;
    return found[1] === 'null' ? null : found[1]!.slice(1, -1);
}
