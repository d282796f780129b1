// Where the daemon held its event loop: the keys bench's stall probe says when (bench/stallProbe.mjs:
// a delay, less the main thread's wait for a core), a CPU profile of the same run says what ran.
//   BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=1000" npm run bench -- keys
//   node bench/heldStacks.mjs .bench/keys-sqlite/stalls.jsonl /tmp/prof [min held ms, default 40]
// For each delay the daemon held at least that long, the functions that ran in it (self time, and
// the heaviest frames counting callees), from the main thread's profile covering it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [stallsPath, profileDir, minArg] = process.argv.slice(2);
if (!stallsPath || !profileDir) {
    console.error('usage: node bench/heldStacks.mjs <stalls.jsonl> <cpu profile dir> [min held ms]');
    process.exit(2);
}
const minHeldMs = Number(minArg ?? 40);
// --cpu-prof names a main thread's profile CPU.<date>.<time>.<pid>.0.<n>.cpuprofile.
const profiles = readdirSync(profileDir)
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .map((f) => indexProfile(JSON.parse(readFileSync(join(profileDir, f), 'utf8'))));
const stalls = readFileSync(stallsPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((s) => s.heldMs >= minHeldMs && s.fromUs !== undefined);

for (const stall of stalls) {
    const profile = profiles.find((p) => p.startTime <= stall.fromUs && stall.toUs <= p.endTime);
    console.log(`\n== held ${stall.heldMs} ms (delay ${stall.wallMs} ms, waited for a core ${stall.waitMs} ms) at ${new Date(stall.at).toISOString()}`);
    if (!profile) {
        console.log('   no main-thread profile covers it');
        continue;
    }
    const self = new Map();
    const inclusive = new Map();
    for (const { t, id, dt } of profile.samples) {
        if (t < stall.fromUs || t > stall.toUs) continue;
        const stack = profile.stackOf(id);
        add(self, stack[0], dt);
        for (const frame of new Set(stack)) add(inclusive, frame, dt);
    }
    console.log(`   self:      ${top(self, 8).join('\n              ')}`);
    console.log(`   inclusive: ${top(inclusive, 20).join('\n              ')}`);
}

function indexProfile(p) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const frameName = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    const stacks = new Map();
    const stackOf = (id) => {
        if (!stacks.has(id)) {
            const stack = [];
            for (let at = id; at !== undefined; at = parent.get(at)) {
                const n = byId.get(at);
                if (n.callFrame.functionName !== '(root)') stack.push(frameName(n));
            }
            stacks.set(id, stack);
        }
        return stacks.get(id);
    };
    // A sample's time is the start time plus the deltas so far; it stands for the time to the next one.
    const samples = [];
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
        t += p.timeDeltas[i];
        samples.push({ t, id: p.samples[i], dt: (p.timeDeltas[i + 1] ?? 0) / 1000 });
    }
    return { startTime: p.startTime, endTime: p.endTime, samples, stackOf };
}

function add(map, key, ms) {
    map.set(key, (map.get(key) ?? 0) + ms);
}

function top(map, n) {
    return [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([frame, ms]) => `${ms.toFixed(0).padStart(4)} ms ${frame}`);
}
