import type { GeneratedViewSpec, IndexSpec, TypedIndexSpec, ViewSpec } from '../domain/viewSpec.js';
import type { GeneratedViewRecord, GeneratedViewsApplied } from './store.js';

/**
 * The bookkeeping of `nango_mirror_views`, the same on both engines: which views and indexes the
 * daemon made, and the plan of one apply. The engines only render the SQL and run the plan in one
 * transaction (sqlite/views.ts, postgres/views.ts).
 *
 * Two owners share the table. The config (`models[].view`, `models[].indexes` as JSON paths) owns
 * the kinds `view` and `index`; the generated views (Nango's schemas) own `generated_view`, its
 * companion `generated_all`, and `generated_index` (an index naming a typed column). Each apply
 * touches its owner's rows only, so a start-up that could not read Nango's scripts config leaves
 * the generated views as they are. A config view wins a name: the generated one is not made
 * (`shadowedViews`), and a config apply drops a generated relation holding a name it wants.
 */
export type RelationOwner = 'config' | 'generated';

const CONFIG_KINDS = new Set(['view', 'index']);
const GENERATED_KINDS = new Set(['generated_view', 'generated_all', 'generated_index']);
const INDEX_KINDS = new Set(['index', 'generated_index']);

/** One row of `nango_mirror_views`. */
export interface RelationRow {
    name: string;
    kind: string;
    /** The CREATE statement: a relation whose statement is unchanged is left alone. */
    definition: string;
    providerConfigKey: string | null;
    model: string | null;
    schemaVersion: string | null;
    syncName: string | null;
    syncVersion: string | null;
    spec: string | null;
}

/** Reads every row, with the same column names on both engines. */
export const SELECT_RELATIONS =
    'SELECT name, kind, definition, provider_config_key AS "providerConfigKey", model, schema_version AS "schemaVersion", sync_name AS "syncName", sync_version AS "syncVersion", spec FROM nango_mirror_views';

/** The INSERT's columns, in the order of `relationParams`. */
export const RELATION_COLUMNS = 'name, kind, definition, provider_config_key, model, schema_version, sync_name, sync_version, spec';

export function relationParams(r: RelationRow): Array<string | null> {
    return [r.name, r.kind, r.definition, r.providerConfigKey, r.model, r.schemaVersion, r.syncName, r.syncVersion, r.spec];
}

export function isIndexKind(kind: string): boolean {
    return INDEX_KINDS.has(kind);
}

function owns(owner: RelationOwner, kind: string): boolean {
    return (owner === 'config' ? CONFIG_KINDS : GENERATED_KINDS).has(kind);
}

export interface RelationChanges {
    /** Dropped, row deleted: no longer wanted. */
    drop: RelationRow[];
    /** Dropped if present, then created, row written: new or changed. */
    create: RelationRow[];
}

/**
 * What one apply changes: the owner's relations that are not wanted go; the wanted ones not there
 * as they are (same kind, statement and record) are created, replacing whatever holds the name
 * (for a config view, a generated one).
 */
export function planRelations(previous: readonly RelationRow[], wanted: readonly RelationRow[], owner: RelationOwner): RelationChanges {
    const wantedByName = new Map(wanted.map((w) => [w.name, w]));
    const kept = new Set(
        previous
            .filter((p) => {
                const w = wantedByName.get(p.name);
                return owns(owner, p.kind) && w !== undefined && w.kind === p.kind && w.definition === p.definition && sameRecord(w, p);
            })
            .map((p) => p.name),
    );
    return {
        drop: previous.filter((p) => owns(owner, p.kind) && !wantedByName.has(p.name)),
        create: wanted.filter((w) => !kept.has(w.name)),
    };
}

function sameRecord(a: RelationRow, b: RelationRow): boolean {
    return a.schemaVersion === b.schemaVersion && a.syncName === b.syncName && a.syncVersion === b.syncVersion && a.spec === b.spec;
}

/** The generated views a config view's name takes (the view's own name or its `_all` companion's): config wins. */
export function shadowedViews(previous: readonly RelationRow[], specs: readonly GeneratedViewSpec[]): Set<string> {
    const configNames = new Set(previous.filter((p) => p.kind === 'view').map((p) => p.name));
    return new Set(specs.filter((s) => configNames.has(s.name) || configNames.has(s.allName)).map((s) => s.name));
}

export interface ConfigRenderer {
    view(v: ViewSpec): string;
    index(i: IndexSpec): string;
}

export function configRelations(views: readonly ViewSpec[], indexes: readonly IndexSpec[], render: ConfigRenderer): RelationRow[] {
    const bare = { providerConfigKey: null, model: null, schemaVersion: null, syncName: null, syncVersion: null, spec: null };
    return [
        ...views.map((v) => ({ ...bare, name: v.name, kind: 'view', definition: render.view(v) })),
        ...indexes.map((i) => ({ ...bare, name: i.name, kind: 'index', definition: render.index(i) })),
    ];
}

export interface GeneratedRenderer {
    /** The view over live rows, or (`all`) its companion over every row with `deleted_at`. */
    view(v: GeneratedViewSpec, all: boolean): string;
    /** `undefined` when the engine cannot index the column's expression. */
    index(i: TypedIndexSpec): string | undefined;
}

/** The rows of the generated views not shadowed, and of the typed-column indexes whose view is made. */
export function generatedRelations(
    specs: readonly GeneratedViewSpec[],
    indexes: readonly TypedIndexSpec[],
    shadowed: ReadonlySet<string>,
    render: GeneratedRenderer,
): { rows: RelationRow[]; unindexable: string[] } {
    const rows: RelationRow[] = [];
    const made = new Set<string>();
    for (const v of specs) {
        if (shadowed.has(v.name)) continue;
        made.add(v.name);
        const source = { providerConfigKey: v.providerConfigKey, model: v.model, schemaVersion: v.schemaVersion, syncName: v.sync.name, syncVersion: v.sync.version ?? null };
        rows.push({ ...source, name: v.name, kind: 'generated_view', definition: render.view(v, false), spec: JSON.stringify(v) });
        rows.push({ ...source, name: v.allName, kind: 'generated_all', definition: render.view(v, true), spec: null });
    }
    const unindexable: string[] = [];
    for (const i of indexes) {
        if (!made.has(i.view)) continue;
        const definition = render.index(i);
        if (definition === undefined) {
            unindexable.push(i.name);
            continue;
        }
        rows.push({ name: i.name, kind: 'generated_index', definition, providerConfigKey: i.providerConfigKey, model: i.model, schemaVersion: null, syncName: null, syncVersion: null, spec: null });
    }
    return { rows, unindexable };
}

/**
 * One generated apply, for an engine to run: `wanted` (given the rows in place, read under the
 * apply's lock) and, once it ran, `result`.
 */
export function generatedApply(
    views: readonly GeneratedViewSpec[],
    indexes: readonly TypedIndexSpec[],
    render: GeneratedRenderer,
): { wanted: (previous: readonly RelationRow[]) => RelationRow[]; result: (changes: RelationChanges) => GeneratedViewsApplied } {
    let shadowed = new Set<string>();
    let unindexable: string[] = [];
    return {
        wanted(previous) {
            shadowed = shadowedViews(previous, views);
            const made = generatedRelations(views, indexes, shadowed, render);
            unindexable = made.unindexable;
            return made.rows;
        },
        result: (changes) => ({ created: changes.create.map((r) => r.name), dropped: changes.drop.map((r) => r.name), shadowed: [...shadowed], unindexable }),
    };
}

/** A `generated_view` row as `Schema.listGeneratedViews` returns it. */
export function generatedViewRecord(row: RelationRow): GeneratedViewRecord {
    let allName = '';
    try {
        const spec = JSON.parse(row.spec ?? '{}') as { allName?: unknown };
        if (typeof spec.allName === 'string') allName = spec.allName;
    } catch {
        // A row written by hand; the name alone is still shown.
    }
    return {
        name: row.name,
        allName,
        providerConfigKey: row.providerConfigKey ?? '',
        model: row.model ?? '',
        schemaVersion: row.schemaVersion ?? '',
        syncName: row.syncName ?? '',
        syncVersion: row.syncVersion,
        spec: row.spec ?? '',
    };
}

/** Generated views first by name: what `listGeneratedViews` returns. */
export function generatedViewRecords(rows: readonly RelationRow[]): GeneratedViewRecord[] {
    return rows
        .filter((r) => r.kind === 'generated_view')
        .map(generatedViewRecord)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
