import type { Logger } from 'pino';
import type { ModelEntry } from '../config/schema.js';
import { typedIndexesFromConfig } from '../config/viewSpecs.js';
import type { ViewNamePair } from '../domain/generatedViewNames.js';
import { generatedViewSpecs, type GeneratedViewRequest } from '../domain/generatedViews.js';
import type { DiscoveryClient, ScriptsConfigEntry, ScriptsConfigSync } from '../nango/discovery.js';
import type { GeneratedViewsApplied, Schema } from '../storage/store.js';
import { indexSyncs } from './discover.js';

export interface TypedViewsDeps {
    /** `GET /scripts/config`, behind the daemon's rate-limit gate and background budget. */
    client: Pick<DiscoveryClient, 'getScriptsConfig'>;
    schema: Pick<Schema, 'listMirroredModels' | 'applyGeneratedViews'>;
    logger: Logger;
    /** `models`: its pairs get views before any key exists, and its `indexes` may name typed columns. */
    models: readonly ModelEntry[];
    /** `sync.views.prefix`. */
    prefix: string;
    /** A webhook naming a model without a view asks Nango at most once per this many ms. */
    minIntervalMs: number;
    /** Aborted at shutdown. */
    signal?: AbortSignal;
}

export interface TypedViews {
    /** Reads the scripts config and applies the generated views; throws when Nango cannot be read (nothing changes then). */
    refresh(): Promise<GeneratedViewsApplied>;
    /** A webhook named these models: a refresh soon (throttled) if one of them was never looked at. */
    notice(pairs: readonly ViewNamePair[]): void;
    /** Cancels a refresh a notice scheduled. */
    stop(): void;
}

const pairKey = (p: ViewNamePair) => JSON.stringify([p.providerConfigKey, p.model]);

/**
 * The syncs that write one (integration, model), from discovery's index of the scripts config
 * (discover.ts): those under the integration's own key; else those under a provider named like the
 * integration; else, when exactly one entry has syncs returning the model, that entry's (its
 * entry is named after another integration of the same provider: the scripts config does not say
 * which integration runs which sync). When two syncs claim the model, the newest deploy wins
 * (generatedViewSpecs).
 */
export function syncsForModel(config: readonly ScriptsConfigEntry[], pair: ViewNamePair): ScriptsConfigSync[] {
    const index = indexSyncs(config);
    const returning = (list: readonly ScriptsConfigSync[] | undefined) => (list ?? []).filter((s) => s.returns.includes(pair.model));
    const own = returning(index.byKey.get(pair.providerConfigKey));
    if (own.length > 0) return own;
    const byProvider = returning(index.byProvider.get(pair.providerConfigKey));
    if (byProvider.length > 0) return byProvider;
    const entries = config.filter((e) => returning(e.syncs).length > 0);
    return entries.length === 1 ? returning(entries[0]!.syncs) : [];
}

/** The views every mirrored model should have, from one scripts config answer. */
export function viewRequests(config: readonly ScriptsConfigEntry[], pairs: readonly ViewNamePair[]): GeneratedViewRequest[] {
    return pairs.flatMap((pair): GeneratedViewRequest[] => {
        const syncs = syncsForModel(config, pair);
        // A model no sync returns is still named (untyped), so it keeps its place in the naming rule.
        return syncs.length > 0 ? syncs.map((sync) => ({ ...pair, sync })) : [{ ...pair, sync: { name: '', json_schema: null } }];
    });
}

/**
 * Keeps the generated views (issue 11) in step with Nango's schemas: `refresh` on start-up and at
 * each reconcile pass, and `notice` when a webhook names a model never looked at.
 */
export function createTypedViews(deps: TypedViewsDeps): TypedViews {
    const { logger } = deps;
    /** Pairs the last refresh looked at (typed or not): a webhook for one of them asks nothing. */
    let seen = new Set<string>();
    /** Logged once each. */
    const warned = new Set<string>();
    let running: Promise<GeneratedViewsApplied> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let lastStarted = -Infinity;

    const warnOnce = (key: string, fields: object, message: string) => {
        if (warned.has(key)) return;
        warned.add(key);
        logger.warn(fields, message);
    };

    async function apply(): Promise<GeneratedViewsApplied> {
        lastStarted = Date.now();
        const mirrored = await deps.schema.listMirroredModels();
        const pairs = new Map<string, ViewNamePair>();
        for (const p of [...mirrored, ...deps.models]) pairs.set(pairKey(p), { providerConfigKey: p.providerConfigKey, model: p.model });
        const config = await deps.client.getScriptsConfig(deps.signal ? { signal: deps.signal } : {});
        const { views, untyped } = generatedViewSpecs(viewRequests(config, [...pairs.values()]), { prefix: deps.prefix });
        const { indexes, unresolved } = typedIndexesFromConfig(deps.models, views);
        const applied = await deps.schema.applyGeneratedViews(views, indexes);
        seen = new Set(pairs.keys());
        if (applied.created.length + applied.dropped.length > 0) {
            logger.info({ created: applied.created, dropped: applied.dropped }, "typed views from Nango's schemas are in place");
        }
        for (const name of applied.shadowed) warnOnce(`shadowed:${name}`, { view: name }, 'a config view (models[].view) has the name of a generated view: the config view is kept, the generated one is not made');
        for (const name of applied.unindexable) warnOnce(`unindexable:${name}`, { index: name }, 'models[].indexes names a timestamp column: Postgres cannot index its cast (not immutable); index the JSON path ("$.<key>") instead');
        for (const entry of unresolved) warnOnce(`unresolved:${entry}`, { index: entry }, 'models[].indexes names a column the model has no generated view or column for (yet): no index');
        for (const u of untyped) logger.debug({ providerConfigKey: u.providerConfigKey, model: u.model, sync: u.syncName || null }, 'no schema for this model in Nango: no typed view (its records are mirrored as always)');
        return applied;
    }

    function refresh(): Promise<GeneratedViewsApplied> {
        // One at a time: a refresh asked for while one runs runs after it (the models may have changed).
        const next = (running ?? Promise.resolve()).catch(() => undefined).then(apply);
        const current = next.finally(() => {
            if (running === current) running = undefined;
        });
        running = current;
        return current;
    }

    return {
        refresh,
        notice(pairs) {
            if (timer || deps.signal?.aborted || pairs.every((p) => seen.has(pairKey(p)))) return;
            const wait = Math.max(0, lastStarted + deps.minIntervalMs - Date.now());
            timer = setTimeout(() => {
                timer = undefined;
                refresh().catch((err: unknown) => {
                    if (!deps.signal?.aborted) logger.warn({ err }, "could not read Nango's scripts config for the typed views; they are left as they are");
                });
            }, wait);
            timer.unref();
        },
        stop() {
            clearTimeout(timer);
            timer = undefined;
        },
    };
}
