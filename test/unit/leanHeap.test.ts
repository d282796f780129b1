import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/lib/leanHeap.js';

// The daemon's node flags are given where it is started; the benchmarks measure with the same
// (bench/shared.ts imports them). `npm start` and the image's CMD must not drift from them.
const root = new URL('../../', import.meta.url);

test('npm start and the Docker image start the daemon with DAEMON_NODE_FLAGS and DAEMON_ENV', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    const env = Object.entries(DAEMON_ENV).map(([name, value]) => `${name}=${value}`);
    assert.equal(pkg.scripts['start'], `${env.join(' ')} node ${DAEMON_NODE_FLAGS.join(' ')} dist/cli.js serve`);
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8').split('\n');
    const cmd = dockerfile.find((line) => line.startsWith('CMD '));
    // The runtime stage's ENV (the last one) sets each variable.
    const runtime = dockerfile.slice(dockerfile.findLastIndex((line) => line.startsWith('FROM ')));
    for (const assignment of env) assert.ok(runtime.some((line) => line.trim().replace(/^ENV /, '').replace(/ \\$/, '') === assignment), `the image sets ${assignment}`);
    assert.equal(cmd, `CMD ${JSON.stringify(['node', ...DAEMON_NODE_FLAGS, 'dist/cli.js', 'serve'])}`.replaceAll('","', '", "'));
});

test('the flags are ones node accepts', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '-e', '0']);
    assert.equal(run.status, 0, run.stderr.toString());
});
