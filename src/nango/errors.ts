/** A non-2xx answer from Nango, with what the caller needs to decide: status, code, body, headers. */
export class NangoApiError extends Error {
    override readonly name = 'NangoApiError';
    constructor(
        readonly status: number,
        /** Nango's `error.code`, or `http_<status>` when the body is not Nango JSON (a load balancer page). */
        readonly code: string,
        message: string,
        readonly headers: Headers,
        readonly body: string,
    ) {
        super(message);
    }
}

/** No answer at all: connection refused or reset, DNS, or our own timeout. */
export class NangoNetworkError extends Error {
    override readonly name = 'NangoNetworkError';
    constructor(message: string, options?: { cause?: unknown }) {
        super(message, options);
    }
}

/** Nango answered 2xx with something that is not the documented shape. */
export class NangoProtocolError extends Error {
    override readonly name = 'NangoProtocolError';
}

export function isNangoApiError(err: unknown): err is NangoApiError {
    return err instanceof NangoApiError;
}

export function isNangoNetworkError(err: unknown): err is NangoNetworkError {
    return err instanceof NangoNetworkError;
}

/** 5xx, network errors and timeouts are worth another try; other 4xx will answer the same again. */
export function isRetryable(err: unknown): boolean {
    if (isNangoNetworkError(err)) return true;
    return isNangoApiError(err) && err.status >= 500;
}

export function isAuthError(err: unknown): boolean {
    return isNangoApiError(err) && (err.status === 401 || err.status === 403);
}

export function isUnknownConnection(err: unknown): boolean {
    return isNangoApiError(err) && err.status === 400 && err.code === 'unknown_connection';
}
