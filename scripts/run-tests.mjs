#!/usr/bin/env node
// Runs every *.test.ts under test/ with node's own test runner (TypeScript through tsx).
// Node 20's --test does not expand globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
    return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) return find(path);
        return name.endsWith('.test.ts') ? [path] : [];
    });
}

const filter = process.argv.slice(2);
const files = find('test')
    .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
    .sort();
if (files.length === 0) {
    console.error(`No test files match ${filter.join(' ')}`);
    process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
