import { isAllowed, type AllowEntry } from '../domain/allowList.js';
import { createPacer } from '../lib/yieldToLoop.js';
import type { KeyStatus } from '../domain/keyState.js';
import { keyString, type SyncKey } from '../domain/syncKey.js';
import { toMicroIso } from '../domain/timestamps.js';
import type { SyncStatusItem } from '../nango/syncStatus.js';
import type { NangoKeyStatus } from '../storage/store.js';

export interface ReconcileInput {
    /** Every key the mirror has, gone ones included (they are known, not rediscovered). */
    keys: readonly KeyStatus[];
    /** Nango's `GET /sync/status` per integration; `null` when it could not be read (the fallback). */
    status: ReadonlyMap<string, readonly SyncStatusItem[] | null>;
    allowList: readonly AllowEntry[];
    nowMs: number;
    /** `sync.fullReconcileIntervalSeconds` in ms: every key is pulled at least this often; 0 = never. */
    fullIntervalMs: number;
    /** @default FINISHED_AT_SLACK_MS */
    slackMs?: number;
}

export interface ReconcilePlan {
    pull: SyncKey[];
    /** Keys Nango lists that the mirror does not know yet, variants included. */
    discovered: SyncKey[];
    /** How many known keys each reason sent to `pull`. */
    reasons: Record<'changed' | 'never_pulled' | 'unfinished' | 'not_listed' | 'status_unavailable' | 'safety_net', number>;
    /** Known keys Nango's status shows unchanged since their last pull began. */
    unchanged: number;
    /**
     * What Nango's status says of each key it lists (for the later run, when two syncs write one
     * model), where it differs from what the mirror stored: an unchanged pass writes nothing.
     */
    observed: NangoKeyStatus[];
}

/**
 * Slack between Nango's clock (`finishedAt`, the jobs host) and the daemon's (`pull_started_at`), and
 * for `GET /records` read replicas that lag the run's commits (§4.1): a run that finished up to this
 * long before a pull began still sends the key to be pulled again.
 */
export const FINISHED_AT_SLACK_MS = 120_000;

/** Steps between two turns of the event loop: about a millisecond of work on the project's machine. */
const PACE_EVERY = 500;

/**
 * Which keys a reconcile pass pulls, from Nango's sync status instead of one request per key: a key
 * whose sync finished after its last successful pull began, a key never pulled or whose last pull did
 * not finish, a key Nango's status does not
 * list or could not be read for (pulled as before: exact over cheap), and, as a safety net, a key
 * not pulled for `fullIntervalMs` (each key at its own point of [½, 1] of the interval, so keys
 * pulled together are not all due together).
 */
export async function planReconcile(input: ReconcileInput): Promise<ReconcilePlan> {
    // Every key and status item passes here: the event loop runs between batches of them.
    const pace = createPacer(PACE_EVERY);
    const plan: ReconcilePlan = { pull: [], discovered: [], reasons: { changed: 0, never_pulled: 0, unfinished: 0, not_listed: 0, status_unavailable: 0, safety_net: 0 }, unchanged: 0, observed: [] };
    const observed = new Map<string, NangoKeyStatus & { finishedMs: number }>();
    /** Per key Nango lists: when its sync last finished (ms), or null while it never has. */
    const finished = new Map<string, number | null>();
    const known = new Map<string, KeyStatus>();
    for (const k of input.keys) {
        await pace();
        known.set(keyString(k), k);
    }
    const discovered = new Set<string>();
    for (const [providerConfigKey, items] of input.status) {
        for (const item of items ?? []) {
            await pace();
            const at = item.finishedAt === undefined ? NaN : Date.parse(item.finishedAt);
            for (const model of modelsOf(item)) {
                const key = { providerConfigKey, connectionId: item.connection_id, model, variant: item.variant };
                const ks = keyString(key);
                // Two syncs may write one model: the later run counts; a run in progress has no time yet.
                const previous = finished.get(ks) ?? null;
                finished.set(ks, Number.isNaN(at) ? previous : Math.max(previous ?? -Infinity, at));
                const seen = observed.get(ks);
                const finishedMs = Number.isNaN(at) ? Infinity : at; // a run in progress is the latest news
                if (!seen || finishedMs >= seen.finishedMs) {
                    observed.set(ks, { key, status: item.status, finishedAt: Number.isNaN(at) ? null : toMicroIso(item.finishedAt!), recordCount: item.recordCount[model] ?? null, finishedMs });
                }
                if (!known.has(ks) && !discovered.has(ks) && isAllowed(key, input.allowList)) {
                    discovered.add(ks);
                    plan.discovered.push(key);
                }
            }
        }
    }
    for (const [ks, { finishedMs: _, ...o }] of observed) {
        await pace();
        const stored = known.get(ks);
        // Unchanged, and no pull since it was stored: nothing to write. A key pulled since gets its
        // view stored again, so the count-drift rule (storage/countDrift.ts) compares like with like.
        const pulledSince = stored?.lastSuccessAt != null && (stored.nangoStatusAt === null || stored.nangoStatusAt < stored.lastSuccessAt);
        if (stored && !pulledSince && stored.nangoSyncStatus === o.status && stored.nangoFinishedAt === o.finishedAt && stored.nangoRecordCount === o.recordCount) continue;
        plan.observed.push(o);
    }
    for (const k of input.keys) {
        await pace();
        if (k.status === 'gone' || !isAllowed(k, input.allowList)) continue;
        const ks = keyString(k);
        const reason = pullReason(k, input, finished.has(ks), finished.get(ks) ?? null);
        if (reason === undefined) {
            plan.unchanged++;
            continue;
        }
        plan.reasons[reason]++;
        plan.pull.push({ providerConfigKey: k.providerConfigKey, connectionId: k.connectionId, model: k.model, variant: k.variant });
    }
    return plan;
}

function pullReason(k: KeyStatus, input: ReconcileInput, listed: boolean, finishedMs: number | null): keyof ReconcilePlan['reasons'] | undefined {
    if (input.status.get(k.providerConfigKey) == null) return 'status_unavailable';
    if (!listed) return 'not_listed';
    if (k.lastSuccessAt === null || k.pullStartedAt === null) return 'never_pulled';
    // The last pull that started did not finish (it failed, or its daemon died mid-way with no stored
    // request left to resume it): compare with the start of the last successful pull, which is unknown.
    if (k.lastSuccessAt < k.pullStartedAt) return 'unfinished';
    if (finishedMs !== null && finishedMs > Date.parse(k.pullStartedAt) - (input.slackMs ?? FINISHED_AT_SLACK_MS)) return 'changed';
    if (input.fullIntervalMs > 0 && input.nowMs - Date.parse(k.lastSuccessAt) > input.fullIntervalMs * spread(k)) return 'safety_net';
    return undefined;
}

/** The models an item's sync writes: its `recordCount` keys (the enabled sync config's models), and those of its latest run. */
function modelsOf(item: SyncStatusItem): Set<string> {
    return new Set([...Object.keys(item.recordCount), ...Object.keys(item.latestResult ?? {})]);
}

/** A key's own point in [0.5, 1), stable across passes and daemons: FNV-1a of the key (a sha256 per key cost more than the rest of the plan). */
function spread(k: SyncKey): number {
    let hash = 0x811c9dc5;
    const s = keyString(k);
    for (let i = 0; i < s.length; i++) hash = Math.imul(hash ^ s.charCodeAt(i), 0x01000193);
    return 0.5 + (hash >>> 0) / 2 ** 33;
}
