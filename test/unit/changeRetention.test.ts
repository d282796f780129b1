import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createChangeRetention } from '../../src/sync/changeRetention.js';

test('change log retention: prunes what is older than retentionHours or beyond maxRows, in batches; a failure waits for the next run', async () => {
    const calls: Array<{ olderThan: string; maxRows: number; batch: number }> = [];
    let fail = false;
    const retention = createChangeRetention({
        changes: {
            async pruneChanges(options) {
                calls.push(options);
                if (fail) throw new Error('database gone');
                return 7;
            },
        },
        logger: pino({ level: 'silent' }),
        retentionHours: 2,
        maxRows: 100,
        now: () => Date.parse('2026-11-30T12:00:00.000Z'),
    });
    assert.equal(await retention.runOnce(), 7);
    assert.deepEqual(calls, [{ olderThan: '2026-11-30T10:00:00.000000Z', maxRows: 100, batch: 5000 }]);
    fail = true;
    assert.equal(await retention.runOnce(), 0, 'logged, not thrown');
    retention.start();
    await retention.stop();
});
