import type { IncomingMessage } from 'node:http';
import { HttpError } from './httpError.js';

/**
 * The exact request bytes, at most `limit` of them: what the signature is computed over.
 * Rejects with a 413 HttpError as soon as the body is known to be too large (from Content-Length,
 * else while it streams), and with `request_aborted` when the sender goes away mid-body.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const declared = Number(req.headers['content-length'] ?? NaN);
        if (declared > limit) return reject(tooLarge());
        const chunks: Buffer[] = [];
        let received = 0;
        let done = false;
        const finish = (err?: HttpError) => {
            if (done) return;
            done = true;
            req.off('data', onData);
            if (err) {
                // Stop reading; the answer goes out, and the connection closes after it.
                req.pause();
                reject(err);
            } else resolve(Buffer.concat(chunks, received));
        };
        const onData = (chunk: Buffer) => {
            received += chunk.length;
            if (received > limit) return finish(tooLarge());
            chunks.push(chunk);
        };
        req.on('data', onData);
        req.once('end', () => finish());
        req.once('error', () => finish(new HttpError(400, 'request_aborted', 'The request was aborted before its body arrived.')));
        req.once('close', () => {
            if (!req.complete) finish(new HttpError(400, 'request_aborted', 'The request was aborted before its body arrived.'));
        });
    });
}

function tooLarge(): HttpError {
    return new HttpError(413, 'payload_too_large', 'The body is larger than server.maxBodyBytes.');
}
