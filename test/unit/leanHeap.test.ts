import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DAEMON_NODE_FLAGS } from '../../src/lib/leanHeap.js';

// The daemon's node flags are given where it is started; the benchmarks measure with the same
// (bench/shared.ts imports them). `npm start` and the image's CMD must not drift from them.
const root = new URL('../../', import.meta.url);

test('npm start and the Docker image start the daemon with DAEMON_NODE_FLAGS', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['start'], `node ${DAEMON_NODE_FLAGS.join(' ')} dist/cli.js serve`);
    const cmd = readFileSync(new URL('Dockerfile', root), 'utf8')
        .split('\n')
        .find((line) => line.startsWith('CMD '));
    assert.equal(cmd, `CMD ${JSON.stringify(['node', ...DAEMON_NODE_FLAGS, 'dist/cli.js', 'serve'])}`.replaceAll('","', '", "'));
});

test('the flags are ones node accepts', async () => {
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '-e', '0']);
    assert.equal(run.status, 0, run.stderr.toString());
});
