import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets a heap grow past what survived its last full collection, in percent. V8's own
 * default scales with the machine's memory: on a server it lets the old generation fill with
 * garbage to about 150 MB before its first full collection, whatever the daemon keeps alive (a heap
 * snapshot at that moment of a 20,000-key backfill held 36 MB). A sidecar should not cost a quarter
 * of a gigabyte for that: at 50 the heap stays at about one and a half times what is alive, for a
 * few more full collections, which V8 runs concurrently: about 12 % more CPU on ingest (README: Memory).
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * The page worker's young generation, in MB: it parses one page at a time and hands the rows over,
 * so a large nursery (V8 grows it to 48 MB under load) holds nothing but garbage. 8 MB cost about
 * 10 % more CPU on ingest (a page of 1,000 records of 1 KB outgrows it), 16 MB about 3 %.
 */
export const PAGE_WORKER_YOUNG_GENERATION_MB = 16;

/**
 * Node flags for the daemon's own process, given where it is started (`npm start`, the Docker
 * image's CMD, the benchmarks; a test checks they agree): the main thread's young generation. V8
 * fixes its size when the process starts, so unlike the two settings above it cannot be set from
 * inside. 4 MB semi-spaces instead of up to 16: about 25 MB less at peak, for no measurable CPU
 * (README: Memory). Run as plain `node dist/cli.js serve`, the daemon works the same with V8's default.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * Environment for the daemon's own process, set where it is started (as DAEMON_NODE_FLAGS): glibc's
 * malloc gives each thread that allocates its own arena (up to 8 per core), and memory freed into
 * one is not handed to another: with the page worker, the checkpoint worker and libuv's thread pool
 * that is several arenas of free memory held as RSS. Two arenas: 8–14 MB less in most phases of
 * one keys-bench run against the two before it (a hint, not a measurement; README: Memory). glibc
 * reads it when the process starts.
 */
export const DAEMON_ENV = { MALLOC_ARENA_MAX: '2' } as const;

/**
 * Applies HEAP_GROWING_PERCENT to every heap of the process (V8's flags are process-wide). Of V8's
 * heap flags, this one is read each time a limit is computed, so it works when set at run time;
 * the sizes of the young generation do not (they are fixed when a heap is created: the worker's is
 * set through its resourceLimits). Call once, before the daemon starts.
 */
export function applyLeanHeap(): void {
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
