import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRateBudget, readRateLimitHeaders } from '../../src/nango/rateBudget.js';

describe('API budget', () => {
    test('reads the three X-RateLimit headers, or nothing when one is missing or not a number (a 401 has none)', () => {
        assert.deepEqual(readRateLimitHeaders({ 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '17', 'x-ratelimit-reset': '1796035283' }), {
            limit: 200,
            remaining: 17,
            resetEpochSeconds: 1796035283,
        });
        assert.equal(readRateLimitHeaders({ 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': '17' }), undefined);
        assert.equal(readRateLimitHeaders({ 'x-ratelimit-limit': '200', 'x-ratelimit-remaining': 'many', 'x-ratelimit-reset': '1' }), undefined);
        assert.equal(readRateLimitHeaders({}), undefined);
    });

    test('background requests stop at the reserve and resume a second after Reset (it is floored)', () => {
        let now = 1_000_000_000_500;
        const budget = createRateBudget({ reserve: 0.2, now: () => now });
        assert.equal(budget.tryTakeBackground(), true, 'nothing known yet: room');
        const reset = 1_000_000_060;
        budget.observe({ limit: 10, remaining: 5, resetEpochSeconds: reset });
        assert.equal(budget.reservedPoints, 2);
        // 5 left, 2 reserved: 3 background requests, counted before their answers come.
        assert.deepEqual([budget.tryTakeBackground(), budget.tryTakeBackground(), budget.tryTakeBackground(), budget.tryTakeBackground()], [true, true, true, false]);
        assert.equal(budget.hasBackgroundRoom(), false);
        assert.equal(budget.resumesAt(), (reset + 1) * 1000);
        // Answers of the window in any order: the lowest count stands.
        budget.observe({ limit: 10, remaining: 3, resetEpochSeconds: reset });
        budget.observe({ limit: 10, remaining: 4, resetEpochSeconds: reset });
        assert.equal(budget.reading?.remaining, 3);
        now = reset * 1000 + 500;
        assert.equal(budget.hasBackgroundRoom(), false, 'the window may still run until a second after Reset');
        now = (reset + 1) * 1000;
        assert.equal(budget.tryTakeBackground(), true, 'a new window starts full');
        // A late answer of the old window says nothing of the new one.
        budget.observe({ limit: 10, remaining: 0, resetEpochSeconds: reset });
        assert.equal(budget.hasBackgroundRoom(), true);
        // The new window's first answer takes over.
        budget.observe({ limit: 10, remaining: 2, resetEpochSeconds: reset + 61 });
        assert.equal(budget.hasBackgroundRoom(), false);
    });

    test('a reserve of 0 never holds a request back', () => {
        const budget = createRateBudget({ reserve: 0 });
        budget.observe({ limit: 10, remaining: 0, resetEpochSeconds: Math.floor(Date.now() / 1000) + 60 });
        assert.equal(budget.tryTakeBackground(), true);
    });

    test('waitForBackground resolves once the window is over', async () => {
        let now = 5_000_000;
        const budget = createRateBudget({ reserve: 0.5, now: () => now });
        budget.observe({ limit: 4, remaining: 2, resetEpochSeconds: 5000 });
        let done = false;
        const waiting = budget.waitForBackground().then(() => (done = true));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(done, false);
        now = 5_001_000;
        await waiting;
        assert.equal(done, true);
    });
});
