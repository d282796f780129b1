import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** An answer with a stable `code`; every error leaves the server as `{error:{code,message}}`. */
export class HttpError extends Error {
    override readonly name = 'HttpError';
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

export function isHttpError(err: unknown): err is HttpError {
    return err instanceof HttpError;
}

/** body-parser's error types, mapped to our stable codes. */
const BODY_ERRORS: Record<string, [number, string, string]> = {
    'entity.too.large': [413, 'payload_too_large', 'The body is larger than server.maxBodyBytes.'],
    'encoding.unsupported': [415, 'unsupported_encoding', 'Unsupported Content-Encoding.'],
    'charset.unsupported': [415, 'unsupported_charset', 'Unsupported charset; Nango sends UTF-8.'],
    'request.aborted': [400, 'request_aborted', 'The request was aborted before its body arrived.'],
    'request.size.invalid': [400, 'invalid_body_size', 'The body does not match its Content-Length.'],
    'entity.verify.failed': [400, 'invalid_body', 'The body could not be read.'],
};

export function toHttpError(err: unknown): HttpError | undefined {
    if (isHttpError(err)) return err;
    const type = (err as { type?: unknown } | null)?.type;
    if (typeof type === 'string' && BODY_ERRORS[type]) {
        const [status, code, message] = BODY_ERRORS[type];
        return new HttpError(status, code, message);
    }
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
        return new HttpError(status, 'bad_request', (err as Error).message);
    }
    return undefined;
}

/** Works on a bare node:http response as on express's, so the webhook route needs no express. */
export function sendError(res: ServerResponse, err: HttpError): void {
    sendJson(res, err.status, { error: { code: err.code, message: err.message } });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}

export function notFound(): RequestHandler {
    return (req, res) => sendError(res, new HttpError(404, 'not_found', `No route for ${req.method} ${req.path}.`));
}

/** The one place errors become HTTP answers. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
    return (err, req, res, _next) => {
        const known = toHttpError(err);
        if (known) {
            if (known.status >= 500) logger.error({ err, path: req.path }, known.message);
            return sendError(res, known);
        }
        logger.error({ err, path: req.path }, 'unhandled error');
        return sendError(res, new HttpError(500, 'internal_error', 'Internal error.'));
    };
}
