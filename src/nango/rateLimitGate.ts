import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Nango's rate limit is one bucket per account (protocol §4.8), so a 429 on any key holds back
 * every request: all of them wait at this gate. The daemon has one; whatever else sends requests
 * (the page worker, in its own thread) listens to it and tells it about the 429s it meets.
 */
export interface RateLimitGate {
    /** Resolves once requests may go out again. */
    wait(signal?: AbortSignal): Promise<void>;
    /** Closes the gate for `ms` (a 429 met by `source`, if given); returns the wait applied. */
    closeFor(ms: number, source?: object): number;
    /** Called with every closing and its source; returns the unsubscribe function. */
    onClose(listener: (ms: number, source: object | undefined) => void): () => void;
    /** Milliseconds until the gate opens again (0 when open). */
    remainingMs(): number;
    /** Milliseconds spent closed so far, for metrics. */
    readonly closedMsTotal: number;
}

export function createRateLimitGate(now: () => number = Date.now): RateLimitGate {
    let openAt = 0;
    let closedMsTotal = 0;
    const listeners = new Set<(ms: number, source: object | undefined) => void>();
    return {
        async wait(signal) {
            for (;;) {
                const remaining = openAt - now();
                if (remaining <= 0) return;
                await sleep(remaining, undefined, signal ? { signal } : {});
            }
        },
        closeFor(ms, source) {
            const until = now() + ms;
            if (until > openAt) {
                closedMsTotal += until - Math.max(openAt, now());
                openAt = until;
            }
            for (const listener of listeners) listener(ms, source);
            return ms;
        },
        remainingMs() {
            return Math.max(0, openAt - now());
        },
        onClose(listener) {
            listeners.add(listener);
            return () => listeners.delete(listener);
        },
        get closedMsTotal() {
            return closedMsTotal;
        },
    };
}

/** How long a 429 asks us to wait: max(1, Retry-After) s, else until X-RateLimit-Reset, else 1 s. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number {
    const retryAfter = headers.get('retry-after');
    if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
        return Math.max(1, Number(retryAfter)) * 1000;
    }
    const reset = headers.get('x-ratelimit-reset');
    if (reset !== null && /^\d+$/.test(reset.trim())) {
        return Math.max(1000, Number(reset) * 1000 - now);
    }
    return 1000;
}
