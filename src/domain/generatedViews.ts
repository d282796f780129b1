import { assignViewNames, DEFAULT_VIEW_PREFIX, type GeneratedViewName } from './generatedViewNames.js';
import { modelSchema, type SyncSchemaSource } from './modelSchema.js';
import type { GeneratedViewSpec } from './viewSpec.js';

/** One `GET /scripts/config` sync, with what a generated view records about its source (wire names). */
export interface SchemaSync extends SyncSchemaSource {
    name: string;
    id?: number | undefined;
    version?: string | undefined;
    last_deployed?: string | undefined;
}

/**
 * One (integration, model) the mirror keeps, with the sync that writes it. Nango's
 * `/scripts/config` groups syncs by provider, not by integration (protocol §6.2): the caller says
 * which integration runs the sync (e.g. from `GET /sync/status`).
 */
export interface GeneratedViewRequest {
    providerConfigKey: string;
    model: string;
    sync: SchemaSync;
}

export interface UntypedModel {
    providerConfigKey: string;
    model: string;
    /** The sync whose schema was looked at. */
    syncName: string;
}

export interface GeneratedViews {
    /** One per typed (integration, model), sorted by view name. */
    views: GeneratedViewSpec[];
    /** The models Nango has no usable schema for: no view; their records are mirrored as always. */
    untyped: UntypedModel[];
}

/**
 * The generated views of every (integration, model) the mirror keeps. Names are assigned over all
 * the pairs given, typed or not (generatedViewNames.ts), so pass all of them. A pair given more
 * than once (two syncs claiming one model) is read from the newest deploy: the latest
 * `last_deployed`, then the highest `id`, then the first sync name. Never throws on odd schemas;
 * throws on a prefix the config should have refused.
 */
export function generatedViewSpecs(requests: readonly GeneratedViewRequest[], options: { prefix?: string } = {}): GeneratedViews {
    const chosen = new Map<string, GeneratedViewRequest>();
    for (const r of requests) {
        const key = JSON.stringify([r.providerConfigKey, r.model]);
        const seen = chosen.get(key);
        if (!seen || newerDeploy(r.sync, seen.sync)) chosen.set(key, r);
    }
    const pairs = [...chosen.values()];
    const names = assignViewNames(pairs, options.prefix ?? DEFAULT_VIEW_PREFIX);
    const views: GeneratedViewSpec[] = [];
    const untyped: UntypedModel[] = [];
    pairs.forEach((r, i) => {
        const view = generatedViewSpec(r, names[i]!);
        if (view) views.push(view);
        else untyped.push({ providerConfigKey: r.providerConfigKey, model: r.model, syncName: r.sync.name });
    });
    views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { views, untyped };
}

/** One model's generated view under a name from `assignViewNames`, or `undefined` when it is untyped. */
export function generatedViewSpec(request: GeneratedViewRequest, name: GeneratedViewName): GeneratedViewSpec | undefined {
    const schema = modelSchema(request.sync, request.model);
    if (!schema) return undefined;
    const { sync } = request;
    return {
        name: name.name,
        allName: name.allName,
        providerConfigKey: request.providerConfigKey,
        model: request.model,
        columns: schema.columns.map((c) => ({ name: c.name, path: [c.property], type: c.type, nullable: c.nullable, property: c.property })),
        schemaVersion: schema.schemaVersion,
        schemaOrigin: schema.origin,
        sync: {
            name: sync.name,
            ...(sync.id !== undefined ? { id: sync.id } : {}),
            ...(sync.version !== undefined ? { version: sync.version } : {}),
            ...(sync.last_deployed !== undefined ? { lastDeployed: sync.last_deployed } : {}),
        },
    };
}

function newerDeploy(a: SchemaSync, b: SchemaSync): boolean {
    const at = a.last_deployed ?? '';
    const bt = b.last_deployed ?? '';
    if (at !== bt) return at > bt;
    const ai = a.id ?? -Infinity;
    const bi = b.id ?? -Infinity;
    if (ai !== bi) return ai > bi;
    return a.name < b.name;
}
