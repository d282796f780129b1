import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configReference, configReferenceTable } from '../../src/config/configReference.js';

test('every config key has a description in the zod schema', () => {
    const undocumented = configReference().filter((r) => r.description.trim().length < 10).map((r) => r.key);
    assert.deepEqual(undocumented, []);
    // The walk reaches nested keys: a section's keys are rows, the section itself is not.
    const keys = configReference().map((r) => r.key);
    for (const key of ['nango.apiKey', 'sync.retry.attempts', 'models[].view.columns', 'logLevel']) assert.ok(keys.includes(key), key);
    assert.ok(!keys.includes('sync.retry') && !keys.includes('nango'));
});

test("README's configuration table is the one made from the schema (npm run config:schema)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme)?.[1];
    assert.equal(table, configReferenceTable());
});
