import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { KeyStates } from '../storage/store.js';
import { dateToMicroIso } from '../domain/timestamps.js';
import type { PullOutcome, PullTurn } from './pullKey.js';
import type { RateBudget } from '../nango/rateBudget.js';
import { keyString, type SyncKey } from '../domain/syncKey.js';

/**
 * Why a pull runs. Announced: `webhook`, `admin` (the admin API), `pending` (a stored request one of
 * those made, found by the poll: a restart's backlog, a failed key coming due). Background:
 * `seeded` (a stored request nobody announced: discovery's seeds, a background pull's retry) and
 * `reconcile` (a pass).
 */
export type PullReason = 'webhook' | 'admin' | 'pending' | 'seeded' | 'reconcile';

/**
 * Announced changes first: a pull a webhook or the admin API asked for runs before stored requests
 * the poll found, and those before background pulls, so a pass never keeps an announced change
 * waiting behind it.
 */
const PRIORITY: Record<PullReason, number> = { webhook: 2, admin: 2, pending: 1, seeded: 0, reconcile: 0 };

/** Background pulls wait while the API budget is inside its reserve; announced ones may spend it. */
const isBackground = (reason: PullReason) => PRIORITY[reason] === 0;

/** What a request's waiters get: a pull that gave its slot back has not ended for them. */
export type ScheduledOutcome = Exclude<PullOutcome, { outcome: 'yielded' }> & { reason: PullReason };

export interface PullSchedulerDeps {
    keys: Pick<KeyStates, 'listDueKeys'>;
    logger: Logger;
    concurrency: number;
    /** Runs one pull; the scheduler guarantees at most one per key at a time. */
    pull: (key: SyncKey, signal: AbortSignal, reason: PullReason, turn: PullTurn) => Promise<PullOutcome>;
    /**
     * A pull gives its slot back after a committed page once it has run this long while other pulls
     * wait (it resumes from its cursor, queued again): a million-record resync does not hold a slot
     * for its whole length. A background pull gives it back at once when an announced one waits.
     * @default 30000
     */
    turnMs?: number;
    /**
     * Nango's rate limit as the answers report it: a background pull starts only if it leaves the
     * reserve alone, else it waits (holding no slot) until the window ends. None: no budget.
     */
    budget?: Pick<RateBudget, 'tryTakeBackground' | 'hasBackgroundRoom' | 'resumesAt'>;
    /** How often stored, due requests (backoff elapsed, left by a crash) are looked for. @default 1000 */
    duePollMs?: number;
    /**
     * A stored request younger than this is being scheduled by whoever stored it (a webhook is
     * answered, then requested here, only once its request is durable): it does not make the
     * scheduler look again as soon as a slot frees. @default 1000
     */
    freshRequestMs?: number;
    /** `offer` queues a new key only while fewer keys than this are held (queued, running or deferred). @default max(1024, 4 × concurrency) */
    maxQueued?: number;
}

export interface PullScheduler {
    /**
     * Asks for a pull of `key`. Coalesced: while one is queued, requests join it; while one runs,
     * requests join exactly one follow-up. Resolves when the pull that covers this request ends.
     */
    request(key: SyncKey, reason: PullReason): Promise<ScheduledOutcome>;
    /**
     * A pull for a request already stored durably (a webhook's, the admin API's), nobody waiting on
     * its outcome: joins the key's pull as `request` does; a key not held yet is queued only while
     * fewer than `maxQueued` keys are, else it is left to the looks at the stored requests, which
     * take it as slots free. A flood of 20,000 webhooks held 20,000 queued keys (32 MB of heap).
     */
    offer(key: SyncKey, reason: PullReason): void;
    /**
     * Requests every stored request that is due; also run on a timer once started. `drain`: the
     * caller stored requests nobody else schedules (discovery's seeds): look again each time a slot
     * frees, however fresh they are, until a look leaves none behind.
     */
    wakeDue(options?: { drain?: boolean }): Promise<void>;
    start(): void;
    /** Stops taking work, aborts pulls in flight (a page commits or rolls back whole) and waits. */
    stop(): Promise<void>;
    /** Keys queued or running. */
    readonly activeCount: number;
}

interface Waiter {
    resolve: (outcome: ScheduledOutcome) => void;
}

interface Entry {
    key: SyncKey;
    /** `deferred`: a background pull waiting for the API budget, off the queue. */
    state: 'queued' | 'running' | 'deferred';
    /** Why it runs: the most urgent reason among the requests it covers. */
    reason: PullReason;
    waiters: Waiter[];
    /** Requests that arrived while running: one follow-up pull. */
    next?: { reason: PullReason; waiters: Waiter[] };
    /** What earlier turns of this pull read, when it gave its slot back (PullTurn). */
    earlier?: { records: number; pages: number };
}

/** A background pull running now, and how to ask it for its slot back at once. */
interface RunningTurn {
    controller: AbortController;
    startedAt: number;
}

export function createPullScheduler(deps: PullSchedulerDeps): PullScheduler {
    const queue = new PQueue({ concurrency: deps.concurrency });
    const entries = new Map<string, Entry>();
    /** The request seq each key's last good pull covered, so a stale look at the store starts no extra pull. */
    const coveredSeq = new Map<string, number>();
    /** Keys another daemon was pulling when we tried: left alone for a moment. */
    const busyUntil = new Map<string, number>();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let waking: Promise<void> | undefined;
    /** The last look at the store found due keys it had no free slot for. */
    let leftBehind = false;
    /** wakeDue({ drain: true }) was asked: fresh requests count as left behind (nobody else schedules them). */
    let draining = false;
    let stopped = false;
    /** Background pulls waiting for the API budget's window to end, and the timer that puts them back. */
    const deferred = new Map<string, Entry>();
    let resumeTimer: NodeJS.Timeout | undefined;

    function defer(ks: string, entry: Entry): void {
        entry.state = 'deferred';
        deferred.set(ks, entry);
        if (resumeTimer) return;
        resumeTimer = setTimeout(resumeDeferred, Math.max(0, deps.budget!.resumesAt() - Date.now()) + 1);
        resumeTimer.unref();
    }

    function resumeDeferred(): void {
        resumeTimer = undefined;
        if (stopped) return;
        for (const [ks, entry] of deferred) {
            deferred.delete(ks);
            entry.state = 'queued';
            enqueue(ks, entry);
        }
    }

    /** Slots taken or promised: deferred pulls hold none. */
    const busyCount = () => entries.size - deferred.size;

    /** Background pulls running now: an announced pull with no free slot takes one of theirs. */
    const runningBackground = new Map<Entry, RunningTurn>();

    /**
     * An announced pull was queued: if every slot is taken, the background pull that started last
     * (the least work lost) stops now, even while it waits at the 429 gate or for a page; it resumes
     * from its cursor later. One per announced pull queued.
     */
    function takeSlotForAnnounced(): void {
        if (queue.pending < deps.concurrency) return;
        let newest: RunningTurn | undefined;
        for (const turn of runningBackground.values()) {
            if (!turn.controller.signal.aborted && (!newest || turn.startedAt > newest.startedAt)) newest = turn;
        }
        newest?.controller.abort(new Error('an announced pull needs the slot'));
    }

    const enqueue = (ks: string, entry: Entry) => {
        if (!isBackground(entry.reason)) takeSlotForAnnounced();
        void queue.add(() => run(ks, entry), { id: ks, priority: PRIORITY[entry.reason] }).catch((err: unknown) => {
            deps.logger.error({ err }, 'pull task failed unexpectedly');
        });
    };

    function raisePriority(ks: string, priority: number): void {
        try {
            queue.setPriority(ks, priority);
        } catch {
            // Already taken off the queue to start: nothing left to move up.
        }
    }

    async function run(ks: string, entry: Entry): Promise<void> {
        if (stopped) return settle(ks, entry, { outcome: 'aborted', records: 0, pages: 0 });
        if (isBackground(entry.reason) && deps.budget && !deps.budget.tryTakeBackground()) return defer(ks, entry);
        entry.state = 'running';
        let outcome: PullOutcome;
        try {
            outcome = await deps.pull(entry.key, abort.signal, entry.reason, turnOf(entry));
        } catch (err) {
            deps.logger.error({ err }, 'pull crashed');
            outcome = { outcome: 'failed', records: 0, pages: 0, code: 'internal_error', error: String(err) };
        }
        runningBackground.delete(entry);
        if (outcome.outcome === 'yielded') return requeue(ks, entry, outcome);
        // Its waiters get the whole pull, every turn of it.
        const earlier = entry.earlier;
        settle(ks, entry, earlier && outcome.outcome !== 'busy' ? { ...outcome, records: outcome.records + earlier.records, pages: outcome.pages + earlier.pages } : outcome);
    }

    const turnMs = deps.turnMs ?? 30_000;
    function turnOf(entry: Entry): PullTurn {
        const started = performance.now();
        const controller = new AbortController();
        if (isBackground(entry.reason)) runningBackground.set(entry, { controller, startedAt: started });
        return {
            signal: controller.signal,
            shouldYield() {
                if (queue.size === 0 || stopped) return false;
                // An announced change never waits more than a page of a background pull.
                if (isBackground(entry.reason) && queue.size > queue.sizeBy({ priority: 0 })) return true;
                return performance.now() - started > turnMs;
            },
        };
    }

    /** A pull that gave its slot back goes to the back of its priority; its next turn starts after every request that joined it, so it covers them. */
    function requeue(ks: string, entry: Entry, turn: { records: number; pages: number }): void {
        entry.earlier = { records: (entry.earlier?.records ?? 0) + turn.records, pages: (entry.earlier?.pages ?? 0) + turn.pages };
        if (stopped) return settle(ks, entry, { outcome: 'aborted', ...entry.earlier });
        const next = entry.next;
        if (next) {
            entry.waiters.push(...next.waiters);
            if (PRIORITY[next.reason] > PRIORITY[entry.reason]) entry.reason = next.reason;
            delete entry.next;
        }
        entry.state = 'queued';
        enqueue(ks, entry);
    }

    function settle(ks: string, entry: Entry, outcome: Exclude<PullOutcome, { outcome: 'yielded' }>): void {
        if (outcome.outcome === 'ok') coveredSeq.set(ks, Math.max(coveredSeq.get(ks) ?? 0, outcome.coveredSeq));
        for (const w of entry.waiters) w.resolve({ ...outcome, reason: entry.reason });
        const next = entry.next;
        if (next && outcome.outcome === 'ok' && !stopped) {
            const follow: Entry = { key: entry.key, state: 'queued', reason: next.reason, waiters: next.waiters };
            entries.set(ks, follow);
            enqueue(ks, follow);
            return;
        }
        // A failed or stopped key keeps its stored request; the due timer retries it after backoff.
        for (const w of next?.waiters ?? []) w.resolve({ ...outcome, reason: next!.reason });
        entries.delete(ks);
        if (outcome.outcome === 'busy') busyUntil.set(ks, Date.now() + (deps.duePollMs ?? 1000));
        // A slot is free and stored requests are waiting for one: take the next now rather than at
        // the next tick. Only then: under a webhook flood every pull settles, and a look per pull
        // (a scan of every key) would cost the main thread more than the pull itself.
        if (!stopped && leftBehind) void scheduler.wakeDue();
    }

    const maxQueued = deps.maxQueued ?? Math.max(1024, 4 * deps.concurrency);

    /**
     * Joins `key`'s pull (queued, deferred or running), or queues a new one if `mayQueue`. `waiter`:
     * who waits for the outcome, if anyone. False when the key was neither held nor queued.
     */
    function join(key: SyncKey, reason: PullReason, waiter: Waiter | undefined, mayQueue: boolean): boolean {
        const ks = keyString(key);
        const entry = entries.get(ks);
        const waiters = waiter ? [waiter] : [];
        if (!entry) {
            if (!mayQueue) return false;
            const fresh: Entry = { key, state: 'queued', reason, waiters };
            entries.set(ks, fresh);
            enqueue(ks, fresh);
        } else if (entry.state === 'queued') {
            entry.waiters.push(...waiters);
            if (PRIORITY[reason] > PRIORITY[entry.reason]) {
                // A webhook for a key a pass has queued: the pull moves up, and what it finds
                // was announced, so it no longer counts as found by reconcile.
                entry.reason = reason;
                raisePriority(ks, PRIORITY[reason]);
                takeSlotForAnnounced();
            }
        } else if (entry.state === 'deferred') {
            entry.waiters.push(...waiters);
            if (PRIORITY[reason] > PRIORITY[entry.reason]) {
                // Announced: it may spend the reserve, so it waits for the window no longer.
                entry.reason = reason;
                deferred.delete(ks);
                entry.state = 'queued';
                enqueue(ks, entry);
            }
        } else {
            entry.next ??= { reason, waiters: [] };
            entry.next.waiters.push(...waiters);
            if (PRIORITY[reason] > PRIORITY[entry.next.reason]) entry.next.reason = reason;
        }
        return true;
    }

    const scheduler: PullScheduler = {
        request(key, reason) {
            return new Promise<ScheduledOutcome>((resolve) => {
                if (stopped) return resolve({ outcome: 'aborted', records: 0, pages: 0, reason });
                join(key, reason, { resolve }, true);
            });
        },

        offer(key, reason) {
            if (stopped) return;
            if (join(key, reason, undefined, entries.size < maxQueued)) return;
            // Stored, not held: the looks take it, however fresh, once slots free.
            leftBehind = true;
            draining = true;
        },

        wakeDue(options) {
            if (options?.drain) draining = true;
            // Every slot is taken or promised to a queued pull: nothing a look finds could start. Do
            // not read past the queued keys to learn that (a webhook flood queues thousands: a look
            // a second then cost 100–150 ms of the main thread); look again once a slot frees.
            if (!waking && deps.concurrency - busyCount() <= 0) {
                leftBehind = true;
                return Promise.resolve();
            }
            // One look at a time: two overlapping looks could both see a key as idle.
            waking ??= (async () => {
                try {
                    // Take only what this daemon can start now: daemons sharing a database leave
                    // the rest to each other instead of queueing the same keys everywhere. The
                    // look reads only as many rows as could be taken, past those already queued
                    // here or left to another daemon: a backlog of any size costs the same per key.
                    let free = deps.concurrency - busyCount();
                    // Inside the reserve, only announced requests could start: read those alone (their
                    // own index), or a backlog of background requests would hide them.
                    const announcedOnly = deps.budget !== undefined && !deps.budget.hasBackgroundRoom();
                    const due = await deps.keys.listDueKeys(dateToMicroIso(new Date()), Math.max(free, 0) + entries.size + busyUntil.size + 1, announcedOnly ? { announcedOnly } : undefined);
                    const freshSince = Date.now() - (deps.freshRequestMs ?? 1000);
                    leftBehind = false;
                    for (const { requestSeq, requestedAt, announced, ...key } of due) {
                        const ks = keyString(key);
                        if (entries.has(ks) || requestSeq <= (coveredSeq.get(ks) ?? -1)) continue;
                        if ((busyUntil.get(ks) ?? 0) > Date.now()) continue;
                        // A fresh announced request is being scheduled by whoever stored it (a webhook is
                        // answered once its request is durable, then requested here): taking it from the
                        // store too could start its pull first, and the webhook's own request would then
                        // add a needless follow-up pull. The CLI's requests wait one look longer.
                        if (announced && !draining && requestedAt !== null && Date.parse(requestedAt) >= freshSince) continue;
                        if (free <= 0) {
                            // Sorted oldest first: once one fresh request is met, the rest are fresh too.
                            leftBehind = draining || requestedAt === null || Date.parse(requestedAt) < freshSince;
                            break;
                        }
                        busyUntil.delete(ks);
                        free--;
                        void scheduler.request(key, announced ? 'pending' : 'seeded');
                    }
                    // Nothing left behind: what discovery stored is all scheduled.
                    if (!leftBehind) draining = false;
                } catch (err) {
                    deps.logger.error({ err }, 'could not read pending pull requests');
                } finally {
                    waking = undefined;
                }
            })();
            return waking;
        },

        start() {
            if (timer || stopped) return;
            timer = setInterval(() => void scheduler.wakeDue(), deps.duePollMs ?? 1000);
            timer.unref();
            void scheduler.wakeDue();
        },

        async stop() {
            if (stopped) return queue.onIdle();
            stopped = true;
            if (timer) clearInterval(timer);
            if (resumeTimer) clearTimeout(resumeTimer);
            for (const [ks, entry] of deferred) settle(ks, entry, { outcome: 'aborted', records: 0, pages: 0 });
            deferred.clear();
            abort.abort(new Error('shutting down'));
            await waking;
            return queue.onIdle();
        },

        get activeCount() {
            return entries.size;
        },
    };
    return scheduler;
}
