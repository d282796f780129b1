import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export interface HttpAnswer {
    status: number;
    headers: IncomingHttpHeaders;
    /** The whole body, decompressed, in a buffer of its own (not a slice of Node's shared pool). */
    body: Buffer;
}

export interface HttpGetOptions {
    headers: Record<string, string>;
    signal: AbortSignal;
}

/** One GET: resolves with the whole answer (any status), rejects on a network error or abort. */
export type HttpGet = (url: string, options: HttpGetOptions) => Promise<HttpAnswer>;

/**
 * GET over node:http(s) with keep-alive connections, not fetch: fetch (undici) cost about twice
 * the CPU per request (measured for an empty page, client and server in one process on the
 * project's machine: 450–760 µs against 210–345 µs), and under a webhook flood every pull is such a request. Answers are asked for gzipped,
 * as fetch and Nango's SDK (axios) do, since a page of 1000 records is about 1 MB of JSON.
 */
export function createHttpGet(): HttpGet {
    const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
    return async (url, options) => {
        const secure = url.startsWith('https:');
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
            const send = secure ? httpsRequest : httpRequest;
            const req = send(url, { agent: secure ? agents.https : agents.http, headers: { ...options.headers, 'accept-encoding': 'gzip' }, signal: options.signal }, resolve);
            req.once('error', reject);
            req.end();
        });
        const encoding = String(res.headers['content-encoding'] ?? 'identity').toLowerCase();
        if (encoding !== 'identity' && encoding !== 'gzip') {
            res.destroy();
            throw new Error(`unsupported Content-Encoding ${JSON.stringify(encoding)}`);
        }
        // Kept as bytes: a page's records are stored as the bytes Nango sent (scanRecordsPage.ts),
        // and text answers are decoded once, whole.
        const length = Number(res.headers['content-length']);
        const status = res.statusCode ?? 0;
        // A page (a 2xx); error answers are small and are collected.
        const sized = status >= 200 && status < 300 && encoding === 'identity';
        const body =
            sized && Number.isSafeInteger(length) && length >= 0 && length <= PREALLOCATE_MAX_BYTES
                ? await readSized(res, length)
                : await readStream(res, encoding === 'gzip');
        return { status, headers: res.headers, body };
    };
}

/**
 * An answer with a Content-Length up to this size is read into one buffer of that size as it
 * arrives (a page of 1,000 records of ~1 KB: 0.96-1.44 ms of CPU against 1.34-1.66 collecting the
 * chunks through a stream pipeline and joining them); a larger or unsized one is collected.
 */
const PREALLOCATE_MAX_BYTES = 16 * 1024 * 1024;

/** The body of `res`, `length` bytes by its Content-Length; rejects if the connection closes or the signal aborts first. */
async function readSized(res: IncomingMessage, length: number): Promise<Buffer> {
    const body = Buffer.allocUnsafeSlow(length);
    let at = 0;
    res.on('data', (chunk: Buffer) => {
        at += chunk.copy(body, at);
    });
    // Node's HTTP parser ends the body at its Content-Length, and a connection closed before it is
    // a premature close: `finished` rejects (test/unit/httpGet.test.ts). Fewer bytes than declared
    // still end a body the parser knows has none (a 204's): only what arrived is returned, never the
    // buffer's unwritten rest (which is whatever memory it was given).
    await finished(res);
    if (at === length) return body;
    const arrived = Buffer.allocUnsafeSlow(at);
    body.copy(arrived, 0, 0, at);
    return arrived;
}

/** The body of `res`, gunzipped if `gzip`, in a buffer of its own. */
async function readStream(res: IncomingMessage, gzip: boolean): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) {
            chunks.push(chunk);
            size += chunk.length;
        }
    };
    // Rejects if the connection closes or the signal aborts before the body ends.
    if (gzip) await pipeline(res, createGunzip(), collect);
    else await pipeline(res, collect);
    const body = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const chunk of chunks) at += chunk.copy(body, at);
    return body;
}

/** The answer's headers as a fetch `Headers`, for the errors that carry them. */
export function toHeaders(raw: IncomingHttpHeaders): Headers {
    const headers = new Headers();
    for (const [name, value] of Object.entries(raw)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    return headers;
}
