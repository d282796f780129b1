import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** What one answer's `X-RateLimit-*` headers say of the account's bucket (protocol §4.8). */
export interface RateLimitReading {
    /** The bucket's size per window. */
    limit: number;
    /** Points left in the current window after this request. */
    remaining: number;
    /** `X-RateLimit-Reset`: epoch seconds, floored, of the window's end. */
    resetEpochSeconds: number;
}

/** The three headers, when all three are there and are whole numbers (a 401 carries none). */
export function readRateLimitHeaders(headers: IncomingHttpHeaders): RateLimitReading | undefined {
    const num = (name: string) => {
        const raw = headers[name];
        const value = Array.isArray(raw) ? raw[0] : raw;
        return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
    };
    const limit = num('x-ratelimit-limit');
    const remaining = num('x-ratelimit-remaining');
    const resetEpochSeconds = num('x-ratelimit-reset');
    if (limit === undefined || remaining === undefined || resetEpochSeconds === undefined || limit === 0) return undefined;
    return { limit, remaining, resetEpochSeconds };
}

/**
 * Nango's rate limit is one bucket per account, shared with the app (protocol §4.8). Background
 * requests (reconcile, discovery, the safety net, discovery's backfill) leave the last `reserve` of
 * it to the app and to announced changes: they stop while the remaining points are inside the
 * reserve and resume once the window has ended. Announced pulls (webhooks, the admin API, the CLI)
 * never ask; 429s are handled by the rate-limit gate as before.
 */
export interface RateBudget {
    /** Every answer's headers, from any thread. */
    observe(reading: RateLimitReading): void;
    /**
     * Takes one point for a background request if the window has more than the reserve left
     * (unknown counts as room); false when the request must wait for `resumesAt()`.
     */
    tryTakeBackground(): boolean;
    /** Whether a background request could go now (takes nothing). */
    hasBackgroundRoom(): boolean;
    /** When background requests may go again (ms since epoch): the end of the current window. */
    resumesAt(): number;
    /** Waits until a background request may go, then takes its point. */
    waitForBackground(signal?: AbortSignal): Promise<void>;
    /** The last reading, for metrics; undefined before the first. */
    readonly reading: RateLimitReading | undefined;
    /** Points the reserve holds back in the current bucket (0 before the first reading). */
    readonly reservedPoints: number;
}

export interface RateBudgetOptions {
    /** Fraction of the bucket kept for the app and announced changes (`sync.rateLimitReserve`); 0 turns the budget off. */
    reserve: number;
    now?: () => number;
}

export function createRateBudget(options: RateBudgetOptions): RateBudget {
    const now = options.now ?? Date.now;
    let reading: RateLimitReading | undefined;
    /** Points this window still has, as far as we know: the lowest answer seen, less what background requests took since. */
    let estimate = Infinity;
    /** Until when `estimate` holds: the window's end, or for ever once a new window was assumed. */
    let estimateUntil = 0;
    /**
     * `Reset` is floored to the second, so the window ends somewhere in the second after it: wait
     * that second out rather than spend the next window's points in this one.
     */
    const windowEnd = () => (reading ? (reading.resetEpochSeconds + 1) * 1000 : 0);
    const reservedPoints = () => (reading ? Math.ceil(reading.limit * options.reserve) : 0);

    const budget: RateBudget = {
        observe(r) {
            if (!reading || r.resetEpochSeconds > reading.resetEpochSeconds) {
                // A new window (or the first answer): its count starts from this answer.
                reading = r;
                estimate = r.remaining;
                estimateUntil = windowEnd();
            } else if (r.resetEpochSeconds === reading.resetEpochSeconds && now() < windowEnd()) {
                // Answers of one window arrive out of order: the lowest count is the latest.
                reading = { ...r, remaining: Math.min(reading.remaining, r.remaining) };
                estimate = Math.min(estimate, r.remaining);
            }
            // An answer of a window already replaced says nothing about this one.
        },
        tryTakeBackground() {
            if (!budget.hasBackgroundRoom()) return false;
            estimate--;
            return true;
        },
        hasBackgroundRoom() {
            if (options.reserve <= 0 || !reading) return true;
            if (now() >= estimateUntil) {
                // The window has ended: a new one starts full with the next request.
                estimate = reading.limit;
                estimateUntil = Infinity;
            }
            return estimate > reservedPoints();
        },
        resumesAt() {
            return windowEnd();
        },
        async waitForBackground(signal) {
            while (!budget.tryTakeBackground()) {
                await sleep(Math.max(0, budget.resumesAt() - now()) + 1, undefined, signal ? { signal } : {});
            }
        },
        get reading() {
            return reading;
        },
        get reservedPoints() {
            return reservedPoints();
        },
    };
    return budget;
}
