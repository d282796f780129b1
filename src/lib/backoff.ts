/** How long to wait before try `attempt` (1-based) again: `baseDelayMs`, doubled per attempt, capped at `maxDelayMs`. */
export interface BackoffPolicy {
    baseDelayMs: number;
    maxDelayMs: number;
}

/** Exponential: base · 2^(attempt − 1), at most `maxDelayMs`. */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
    return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

/** Full jitter: uniform in [0, backoffDelay], so retrying callers do not move in step. */
export function backoffWithJitter(attempt: number, policy: BackoffPolicy): number {
    return Math.round(Math.random() * backoffDelay(attempt, policy));
}
