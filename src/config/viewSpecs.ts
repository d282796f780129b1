import { createHash } from 'node:crypto';
import type { IndexSpec, ViewSpec } from '../domain/viewSpec.js';
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
            const digest = createHash('sha256').update(`${m.providerConfigKey}\0${m.model}\0${path}`).digest('hex').slice(0, 12);
            indexes.push({ name: `nango_records_x_${digest}`, providerConfigKey: m.providerConfigKey, model: m.model, path: parseJsonPath(path) });
        }
    }
    const names = new Set<string>();
    for (const v of views) {
        if (names.has(v.name)) throw new Error(`models[].view.name: "${v.name}" is used twice; view names must be unique.`);
        names.add(v.name);
    }
    return { views, indexes };
}
