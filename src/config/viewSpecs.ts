import { createHash } from 'node:crypto';
import type { GeneratedViewSpec, IndexSpec, TypedIndexSpec, ViewSpec } from '../domain/viewSpec.js';
import type { ModelEntry } from './schema.js';

/** `$.a.b[0]` → ['a', 'b', '0'] (the config schema already allowed only identifiers and indexes). */
export function parseJsonPath(path: string): string[] {
    return [...path.matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]!);
}

/** The views and indexes the config asks for, in the engine-neutral form the stores render. */
export function viewSpecsFromConfig(models: readonly ModelEntry[]): { views: ViewSpec[]; indexes: IndexSpec[] } {
    const views: ViewSpec[] = [];
    const indexes: IndexSpec[] = [];
    for (const m of models) {
        if (m.view) {
            views.push({
                name: m.view.name,
                providerConfigKey: m.providerConfigKey,
                model: m.model,
                variant: m.variant,
                columns: Object.entries(m.view.columns).map(([name, c]) =>
                    typeof c === 'string' ? { name, path: parseJsonPath(c), type: 'text' as const } : { name, path: parseJsonPath(c.path), type: c.type },
                ),
            });
        }
        for (const path of m.indexes) {
            // A column name is resolved against the generated view (typedIndexesFromConfig).
            if (!path.startsWith('$')) continue;
            indexes.push({ name: indexName(m, path), providerConfigKey: m.providerConfigKey, model: m.model, path: parseJsonPath(path) });
        }
    }
    const names = new Set<string>();
    for (const v of views) {
        if (names.has(v.name)) throw new Error(`models[].view.name: "${v.name}" is used twice; view names must be unique.`);
        names.add(v.name);
    }
    return { views, indexes };
}

function indexName(m: Pick<ModelEntry, 'providerConfigKey' | 'model'>, path: string): string {
    const digest = createHash('sha256').update(`${m.providerConfigKey}\0${m.model}\0${path}`).digest('hex').slice(0, 12);
    return `nango_records_x_${digest}`;
}

/**
 * The `models[].indexes` entries that name a column of the model's generated view (`"email"`
 * rather than `"$.email"`), each on that column: its index is on the view's own column
 * expression. `unresolved`: entries whose model has no generated view, or no such column (yet).
 */
export function typedIndexesFromConfig(models: readonly ModelEntry[], views: readonly GeneratedViewSpec[]): { indexes: TypedIndexSpec[]; unresolved: string[] } {
    const indexes: TypedIndexSpec[] = [];
    const unresolved: string[] = [];
    for (const m of models) {
        for (const entry of m.indexes) {
            if (entry.startsWith('$')) continue;
            const view = views.find((v) => v.providerConfigKey === m.providerConfigKey && v.model === m.model);
            const column = view?.columns.find((c) => c.name === entry);
            if (!view || !column) {
                unresolved.push(`${m.providerConfigKey}/${m.model}: ${entry}`);
                continue;
            }
            indexes.push({ name: indexName(m, entry), providerConfigKey: m.providerConfigKey, model: m.model, view: view.name, column: { name: column.name, path: column.path, type: column.type } });
        }
    }
    return { indexes, unresolved };
}
