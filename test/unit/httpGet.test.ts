import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createHttpGet } from '../../src/nango/httpGet.js';

// The page worker's GET (httpGet.ts): a sized answer is read into one buffer as it arrives, any
// other collected; either way the whole body or a rejection, never part of one.

async function withServer(handle: (req: IncomingMessage, res: ServerResponse) => void, run: (url: string) => Promise<void>): Promise<void> {
    const server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
        await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/records`);
    } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }
}

const get = createHttpGet();
const fetchBody = (url: string, signal = new AbortController().signal) => get(url, { headers: {}, signal });
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

test('a sized answer, an unsized (chunked) one and a gzipped one give the whole body, each in a buffer of its own', async () => {
    for (const size of [300_000, 100]) {
        const body = pattern(size);
        for (const mode of ['sized', 'chunked', 'gzip', 'empty'] as const) {
            await withServer(
                (_req, res) => {
                    if (mode === 'sized') res.writeHead(200, { 'content-length': String(body.length) });
                    else if (mode === 'gzip') res.writeHead(200, { 'content-encoding': 'gzip' });
                    else if (mode === 'empty') res.writeHead(200, { 'content-length': '0' });
                    else res.writeHead(200);
                    if (mode === 'gzip') res.end(gzipSync(body));
                    else if (mode === 'empty') res.end();
                    else {
                        // In pieces, so the body arrives in several reads.
                        for (let at = 0; at < body.length; at += 70_000) res.write(body.subarray(at, at + 70_000));
                        res.end();
                    }
                },
                async (url) => {
                    const answer = await fetchBody(url);
                    assert.equal(answer.status, 200);
                    assert.ok(answer.body.equals(mode === 'empty' ? Buffer.alloc(0) : body), mode);
                    // Its own memory (it may be moved to another thread): not a view of Node's pool.
                    assert.equal(answer.body.byteOffset, 0, mode);
                    assert.equal(answer.body.buffer.byteLength, answer.body.length, mode);
                },
            );
        }
    }
});

test('an answer with a Content-Length but no body (204, 304) gives an empty body, not the memory a buffer of that length held', async () => {
    for (const status of ['204 No Content', '304 Not Modified']) {
        // Raw HTTP: Node's own server drops the header for these statuses.
        const sockets = new Set<Socket>();
        const server = createTcpServer((socket) => {
            sockets.add(socket);
            socket.once('data', () => socket.write(`HTTP/1.1 ${status}\r\nContent-Length: 4000\r\nConnection: keep-alive\r\n\r\n`));
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
            const answer = await fetchBody(`http://127.0.0.1:${(server.address() as AddressInfo).port}/records`);
            assert.equal(answer.status, Number(status.slice(0, 3)));
            assert.equal(answer.body.length, 0, status);
        } finally {
            for (const socket of sockets) socket.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
        }
    }
});

test('a body cut short (sized or chunked) or aborted mid-way rejects; nothing partial is returned', async () => {
    for (const mode of ['sized', 'chunked'] as const) {
        await withServer(
            (_req, res) => {
                res.writeHead(200, mode === 'sized' ? { 'content-length': '100000' } : {});
                res.write(pattern(40_000), () => setTimeout(() => res.socket?.destroy(), 20));
            },
            async (url) => {
                await assert.rejects(fetchBody(url), mode);
            },
        );
    }
    const aborter = new AbortController();
    await withServer(
        (_req, res) => {
            res.writeHead(200, { 'content-length': '100000' });
            res.write(pattern(40_000), () => setTimeout(() => aborter.abort(), 20));
        },
        async (url) => {
            await assert.rejects(fetchBody(url, aborter.signal), /abort/i);
        },
    );
});

test('an answer larger than the preallocation cap is collected whole; an unknown encoding is refused', async () => {
    const big = pattern(17 * 1024 * 1024);
    await withServer(
        (_req, res) => {
            res.writeHead(200, { 'content-length': String(big.length) });
            res.end(big);
        },
        async (url) => {
            const answer = await fetchBody(url);
            assert.ok(answer.body.equals(big));
        },
    );
    await withServer(
        (_req, res) => {
            res.writeHead(200, { 'content-encoding': 'br', 'content-length': '3' });
            res.end('abc');
        },
        async (url) => {
            await assert.rejects(fetchBody(url), /unsupported Content-Encoding "br"/);
        },
    );
});
