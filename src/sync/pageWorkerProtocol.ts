import { NangoApiError, NangoNetworkError, NangoProtocolError } from '../nango/errors.js';
import type { RetryPolicy } from '../nango/client.js';
import type { RateLimitReading } from '../nango/rateBudget.js';
import type { RowColumns } from './rowColumns.js';
import type { SyncKey } from '../domain/syncKey.js';

/**
 * Messages cross between the threads in batches, one per turn of the event loop: under a webhook
 * flood a pull is a few tiny messages, and every postMessage wakes the other thread (on 2 cores
 * that switch cost more than the message; measured in the webhook flood benchmark).
 */
export function batchedPoster<T>(post: (batch: T[], transfer: ArrayBuffer[]) => void): (message: T, transfer?: readonly ArrayBuffer[]) => void {
    let batch: T[] | undefined;
    let transfers: ArrayBuffer[] = [];
    return (message, transfer = []) => {
        transfers.push(...transfer);
        if (batch) {
            batch.push(message);
            return;
        }
        batch = [message];
        setImmediate(() => {
            const ready = batch!;
            const moved = transfers;
            batch = undefined;
            transfers = [];
            post(ready, moved);
        });
    };
}

/**
 * What of a page's columns can be moved to the other thread rather than copied: the body's memory
 * when it is the body's alone (the HTTP client and the re-encoding allocate it so; a view of Node's
 * shared pool must be copied: moving it would take every other buffer of the pool along), and the
 * offsets. A moved buffer is unusable on the sending side, which never reads a page after sending it.
 */
export function movablePageBuffers(columns: RowColumns): ArrayBuffer[] {
    const moved: ArrayBuffer[] = [];
    for (const view of [columns.bytes, columns.dataStart, columns.dataEnd]) {
        const buffer = view.buffer;
        if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength && buffer.byteLength > 0 && !moved.includes(buffer)) moved.push(buffer);
    }
    return moved;
}

/** What the main thread tells the page worker. */
export type ToWorker =
    /** Stream pages from `cursor`, never more than `window` unacknowledged. */
    | { type: 'stream'; id: number; key: SyncKey; cursor: string | null; limit: number; window: number; reason?: string }
    /** The consumer is done with one page: one more may be fetched. */
    | { type: 'ack'; id: number }
    | { type: 'abort'; id: number }
    /** A 429 met elsewhere in this process (discovery): the account's bucket is empty for everyone. */
    | { type: 'hold_back'; waitMs: number };

/** What the page worker answers, plus events the main thread logs and counts. */
export type FromWorker =
    | { type: 'page'; id: number; columns: RowColumns; nextCursor: string | null }
    | { type: 'error'; id: number; error: SerializedError }
    | { type: 'auth'; ok: boolean }
    | { type: 'rate_limited'; waitMs: number }
    | { type: 'response'; status: number | 'network_error'; reason: string | undefined }
    | { type: 'rate_limit'; reading: RateLimitReading }
    | { type: 'retry'; attempt: number; delayMs: number; error: string };

export interface PageWorkerData {
    host: string;
    apiKey: string;
    timeoutMs: number;
    retry: RetryPolicy;
}

export interface SerializedError {
    name: string;
    message: string;
    status?: number;
    code?: string;
    body?: string;
    headers?: Array<[string, string]>;
}

export function serializeError(err: unknown): SerializedError {
    if (err instanceof NangoApiError) {
        return { name: err.name, message: err.message, status: err.status, code: err.code, body: err.body, headers: [...err.headers.entries()] };
    }
    if (err instanceof Error) return { name: err.name, message: err.message };
    return { name: 'Error', message: String(err) };
}

/** Rebuilds the typed error on the main thread, so failure handling sees what the client threw. */
export function deserializeError(e: SerializedError): Error {
    switch (e.name) {
        case 'NangoApiError':
            return new NangoApiError(e.status ?? 0, e.code ?? 'unknown', e.message, new Headers(e.headers ?? []), e.body ?? '');
        case 'NangoNetworkError':
            return new NangoNetworkError(e.message);
        case 'NangoProtocolError':
            return new NangoProtocolError(e.message);
        default: {
            const err = new Error(e.message);
            err.name = e.name;
            return err;
        }
    }
}
