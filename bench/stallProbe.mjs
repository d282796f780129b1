// Loaded into the daemon by the keys bench (node --import): when the event loop is late, how much of
// the delay the main thread spent waiting for a core (the machine's doing: other processes) and how
// much it held the loop itself (running JavaScript, or blocked in a system call such as an fsync).
// Reads /proc/self/task/<main thread>/schedstat, Linux only. Appends one JSON line per delay over
// 20 ms to $NANGO_MIRROR_STALL_PROBE: {at (epoch ms), wallMs, waitMs, heldMs, fromUs, toUs}; fromUs/toUs are
// the monotonic clock in µs (process.hrtime), the clock of a --cpu-prof profile's timestamps, so a
// delay can be looked up in a profile of the same run (`node bench/heldStacks.mjs`).
import { appendFileSync, readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const out = process.env.NANGO_MIRROR_STALL_PROBE;
if (isMainThread && out) {
    const path = `/proc/self/task/${process.pid}/schedstat`;
    /** [cpu ns, runqueue wait ns] of the main thread so far. */
    const sched = () => readFileSync(path, 'utf8').split(' ').map(Number);
    const TICK_MS = 5;
    let last = performance.now();
    let lastMono = process.hrtime.bigint();
    let [, waitBefore] = sched();
    setInterval(() => {
        const now = performance.now();
        const mono = process.hrtime.bigint();
        const [, wait] = sched();
        const lateMs = now - last - TICK_MS;
        if (lateMs > 20) {
            const waitMs = (wait - waitBefore) / 1e6;
            appendFileSync(out, `${JSON.stringify({ at: Math.round(performance.timeOrigin + now), wallMs: Math.round(lateMs), waitMs: Math.round(waitMs), heldMs: Math.max(0, Math.round(lateMs - waitMs)), fromUs: Number(lastMono / 1000n), toUs: Number(mono / 1000n) })}\n`);
        }
        last = now;
        lastMono = mono;
        waitBefore = wait;
    }, TICK_MS).unref();
}
