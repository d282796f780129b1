import { canonicalJson, shortSha256 } from '../lib/stableHash.js';
import { assignColumnNames } from './generatedViewNames.js';
import type { ViewColumnType } from './viewSpec.js';

/**
 * # A model's typed columns, from Nango's own model schemas (`GET /scripts/config`, protocol §6.2)
 *
 * One column per **top-level** property of the model, in the schema's property order (the
 * property `id` excepted: it is the record id, the view's own `id` column). Nested values are not
 * flattened: an object or an array is one JSON column.
 *
 * **Where the schema comes from**, per sync:
 * 1. `json_schema.definitions[<Model>]` (every deploy since 2024-06; zod-based CLIs since 2026-03,
 *    ts-json-schema-generator before);
 * 2. else the legacy `models[].fields` of the model, when it lists fields (deploys before
 *    2025-07-14 stored them; later ones list names with `fields: []`);
 * 3. else the model is **untyped** (`undefined`): `json_schema` null or `{}`, no definition for the
 *    model, or a definition that is not an object schema (e.g. `{}`). It gets no generated view;
 *    its records are mirrored as always.
 *
 * **Type mapping** (JSON Schema → {@link ViewColumnType}):
 *
 * | Schema | Column |
 * |---|---|
 * | `type: "string"` | `text` |
 * | `type: "string", format: "date-time"` (zod `z.date()`, `z.iso.datetime()`) | `timestamp` |
 * | `type: "string", format: "date"` (a date, not an instant) | `text` |
 * | `type: "integer"` (zod `.int()`) | `integer` |
 * | `type: "number"` | `real` |
 * | `type: "boolean"` | `boolean` |
 * | `enum` / `const` of strings (zod `z.enum`, `z.literal`) | `text` (of integers: `integer`; numbers: `real`; booleans: `boolean`; mixed: `json`) |
 * | `type: "object"`, `type: "array"`, `properties`, `items`, `additionalProperties` | `json` |
 * | a union of one type and `null` | that type, nullable |
 * | a union of `integer` and `number` | `real` |
 * | a union of `string` and date-time strings | `text` |
 * | any other union (zod `z.union`, `type: ["string","number"]`) | `json` |
 * | `{}`, `true`, `z.any()`/`z.unknown()`/`z.bigint()`, `{"anyOf":[{},{"not":{}}]}`, `not`, unknown keywords | `json`, nullable |
 * | a `$ref` | the type of what it points to (a cycle, or a target that cannot be found: `json`) |
 * | `allOf` of one schema (zod's wrapper around a `$ref`, e.g. an optional recursive field) | that schema's type |
 * | `allOf` of several | their common type if they all agree (parts that admit anything, e.g. `{"minimum": 0}`, aside), else `json` |
 *
 * **Nullable** when the value may be missing or null, in every form Nango emits: the property is
 * not in `required`; `type: [T, "null"]` (ts-json-schema-generator, zod ≥ 4.6); `anyOf`/`oneOf`
 * with `{"type": "null"}` (zod 4.3's `.nullable()`); an `enum` listing `null`; `nullable: true`
 * (OpenAPI style); or an any-value. The typed columns read NULL for a missing key, a JSON null,
 * and (in the renderers) a value that does not fit the type.
 *
 * **`$ref`** (`#`, `#/definitions/X`, `#/$defs/X`, any `#/…` JSON pointer) is looked up in the
 * schema it appears in first (the model, or the document definition a `$ref` led to), then in the
 * whole `json_schema` (protocol §6.2: zod puts recursive parts in the model's own `definitions`
 * and points at the model itself with `#`; ts-json-schema-generator points at the document's
 * `definitions`). A `$ref` is **followed**, at the model's root too, so a model that is only a
 * reference still gets its columns; a cycle stops the walk (`json` for a property, untyped for a
 * model). Recursive models (zod getters, `z.lazy`) therefore keep their scalar columns and give
 * their recursive properties a `json` column. References outside the document are not fetched
 * (`json`).
 *
 * A model whose root is a union (`anyOf`/`oneOf` of objects, e.g. `z.discriminatedUnion`) has
 * the properties of every branch, required only when every branch requires them; `allOf` of
 * objects (`a.and(b)`) has the properties of all, required when any requires them.
 *
 * **Legacy `models[].fields`** (protocol §6.2):
 * - `NangoModel` fields `{name, value, tsType?, optional?, array?, model?, union?}`: `array`,
 *   `model` (a reference to another model), a nested object (`value` is a list of fields) → `json`;
 *   `union` → the members' union as above; `value` `string` → `text`, `number` → `real`,
 *   `integer`/`int` → `integer`, `boolean` → `boolean`, `Date`/`date` → `timestamp`, `null` →
 *   nullable, `any`/`object`/`Record<…>`/other TypeScript types → `json`; a literal (`"open"`,
 *   `5`, `true`) → its type; `optional` or a name ending in `?` → nullable; the dynamic key
 *   (`__string`, an index signature) has no column.
 * - The 2023 form `{name, type}`: `type` is TypeScript text (`string | null`, `Date`, `Foo[]`,
 *   `'a' | 'b'`), mapped the same way member by member; `| undefined` or a name ending in `?` →
 *   nullable; `T[]`, `Array<…>`, `{…}` and model names → `json`.
 *
 * **`schemaVersion`**: the first 12 hex digits of sha256 of the canonical (key-sorted) JSON of
 * what the columns came from: the model's definition plus every definition it reaches through a
 * `$ref` into the rest of `json_schema` (or the legacy fields). A re-deploy with an unchanged model
 * keeps it (the sync's `id` changes on every deploy; `version` only when the code changed, and not
 * per model); any change to the model, including deep inside a nested object, changes it. Key
 * order never does (a schema read back from Postgres `jsonb` has its keys reordered), and so a
 * deploy that only reorders properties keeps the version although the columns' order follows it.
 */

/** A sync's `json_schema`: `{definitions: {<Model>: JSON Schema, …}}`. Nothing inside is trusted. */
export type JsonSchemaDocument = Record<string, unknown>;

/** One entry of a sync's `models`: `{name, fields}`, fields in the `NangoModel` or 2023 form. */
export interface LegacyModelEntry {
    name: string;
    fields: unknown[];
}

/** What of one `GET /scripts/config` sync describes its models (wire names, as discovery keeps them). */
export interface SyncSchemaSource {
    json_schema?: JsonSchemaDocument | null | undefined;
    models?: readonly LegacyModelEntry[] | undefined;
}

/** One top-level property of a model, typed. */
export interface ModelProperty {
    /** The property's key in the record, as Nango sends it. */
    property: string;
    type: ViewColumnType;
    /** The value may be missing or null. */
    nullable: boolean;
}

/** A typed property with its column name (see generatedViewNames.ts for the naming rule). */
export interface ModelColumn extends ModelProperty {
    name: string;
}

export interface ModelSchema {
    /** Which of Nango's encodings the columns came from. */
    origin: 'json_schema' | 'legacy_fields';
    columns: ModelColumn[];
    /** Changes when, and only when, the model's schema does (see the module comment). */
    schemaVersion: string;
}

const SCHEMA_VERSION_CHARS = 12;
/** Deeper nesting of `$ref`/`anyOf`/`allOf` around one property than this reads as `json`. */
const MAX_DEPTH = 32;

/**
 * The model's typed columns and schema version from one sync's `GET /scripts/config` item, or
 * `undefined` when Nango has no usable schema for it (untyped). Never throws on odd input.
 */
export function modelSchema(sync: SyncSchemaSource, model: string): ModelSchema | undefined {
    const document = sync.json_schema;
    const definitions = isRecord(document) ? document['definitions'] : undefined;
    if (isRecord(definitions) && Object.hasOwn(definitions, model)) {
        const definition = definitions[model];
        const properties = propertiesFromJsonSchema(definition, document);
        if (properties) {
            const version = { definition, refs: documentRefs(definition, document) };
            return { origin: 'json_schema', columns: withColumnNames(properties), schemaVersion: shortSha256(canonicalJson(version), SCHEMA_VERSION_CHARS) };
        }
    }
    const fields = sync.models?.find((m) => isRecord(m) && m.name === model)?.fields;
    if (Array.isArray(fields) && fields.length > 0) {
        return {
            origin: 'legacy_fields',
            columns: withColumnNames(propertiesFromLegacyFields(fields)),
            schemaVersion: shortSha256(canonicalJson({ legacyFields: fields }), SCHEMA_VERSION_CHARS),
        };
    }
    return undefined;
}

/** Columns of one JSON Schema model definition (`document` is the whole `json_schema`, for `$ref`s); `undefined` when it is not an object schema. */
export function columnsFromJsonSchema(definition: unknown, document?: unknown): ModelColumn[] | undefined {
    const properties = propertiesFromJsonSchema(definition, document);
    return properties && withColumnNames(properties);
}

/** Columns of a legacy `models[].fields` list (either form). */
export function columnsFromLegacyFields(fields: readonly unknown[]): ModelColumn[] {
    return withColumnNames(propertiesFromLegacyFields(fields));
}

function withColumnNames(properties: ModelProperty[]): ModelColumn[] {
    const own = properties.filter((p) => p.property !== 'id');
    const names = assignColumnNames(own.map((p) => p.property));
    return own.map((p, i) => ({ name: names[i]!, ...p }));
}

// ---------------------------------------------------------------------------------------------
// JSON Schema

/** What a schema admits: the column kinds of its non-null values, and whether null (or nothing) is admitted. */
interface Admits {
    kinds: Set<ViewColumnType>;
    nullable: boolean;
}

const ANY: () => Admits = () => ({ kinds: new Set(['json']), nullable: true });
const ONLY: (kind: ViewColumnType, nullable?: boolean) => Admits = (kind, nullable = false) => ({ kinds: new Set([kind]), nullable });

function union(parts: readonly Admits[]): Admits {
    return { kinds: new Set(parts.flatMap((p) => [...p.kinds])), nullable: parts.some((p) => p.nullable) };
}

/**
 * `allOf`: the common type when every part agrees, else `json`; null only if every part admits it.
 * Parts that admit anything (`{minimum: 0}`, `{}`) do not take part.
 */
function intersection(all: readonly Admits[]): Admits {
    const parts = all.filter((p) => !(p.nullable && p.kinds.size === 1 && p.kinds.has('json')));
    if (parts.length === 0) return ANY();
    const types = new Set(parts.map(columnType));
    const nullable = parts.every((p) => p.nullable);
    return types.size === 1 ? { kinds: new Set(parts[0]!.kinds), nullable } : ONLY('json', nullable);
}

function columnType(a: Admits): ViewColumnType {
    const kinds = [...a.kinds];
    if (kinds.length === 0 || a.kinds.has('json')) return 'json';
    if (kinds.length === 1) return kinds[0]!;
    if (kinds.every((k) => k === 'integer' || k === 'real')) return 'real';
    if (kinds.every((k) => k === 'text' || k === 'timestamp')) return 'text';
    return 'json';
}

/** Where `$ref`s are looked up: the schemas they sit in, innermost first, then the document. */
interface Scope {
    bases: readonly unknown[];
    document: unknown;
    /** Schemas reached through `$ref` on the way here: a cycle guard. */
    visited: ReadonlySet<unknown>;
    depth: number;
}

function propertiesFromJsonSchema(definition: unknown, document: unknown): ModelProperty[] | undefined {
    const shape = objectShape(definition, { bases: [definition], document, visited: new Set([definition]), depth: 0 });
    if (!shape) return undefined;
    return [...shape.properties].map(([property, admits]) => ({ property, type: columnType(admits), nullable: admits.nullable || !shape.required.has(property) }));
}

interface ObjectShape {
    properties: Map<string, Admits>;
    required: Set<string>;
}

/** The top-level properties of an object schema, or `undefined` when `node` is not one. */
function objectShape(node: unknown, scope: Scope): ObjectShape | undefined {
    if (!isRecord(node) || scope.depth > MAX_DEPTH) return undefined;
    const ref = followRef(node, scope);
    if (ref) return typeof ref === 'string' ? undefined : objectShape(ref.target, ref.scope);
    const inner = { ...scope, depth: scope.depth + 1 };
    const parts: ObjectShape[] = [];
    const types = typeList(node['type']);
    if (isRecord(node['properties']) || types.includes('object')) {
        const properties = new Map<string, Admits>();
        const own = isRecord(node['properties']) ? node['properties'] : {};
        for (const key of Object.keys(own)) properties.set(key, admits(own[key], inner));
        const required = new Set(Array.isArray(node['required']) ? node['required'].filter((r): r is string => typeof r === 'string') : []);
        parts.push({ properties, required });
    }
    if (Array.isArray(node['allOf'])) {
        parts.push(...node['allOf'].flatMap((m) => objectShape(m, inner) ?? []));
    }
    const branches = [node['anyOf'], node['oneOf']].filter(Array.isArray).flatMap((list: unknown[]) => list.flatMap((m) => objectShape(m, inner) ?? []));
    if (branches.length > 0) parts.push(mergeShapes(branches, 'union'));
    return parts.length === 0 ? undefined : mergeShapes(parts, 'intersection');
}

/** Union: a property of any branch, required when every branch requires it. Intersection: of all parts, required when any part requires it. */
function mergeShapes(parts: readonly ObjectShape[], mode: 'union' | 'intersection'): ObjectShape {
    if (parts.length === 1) return parts[0]!;
    const collected = new Map<string, Admits[]>();
    for (const part of parts) for (const [key, a] of part.properties) collected.set(key, [...(collected.get(key) ?? []), a]);
    const properties = new Map([...collected].map(([key, list]) => [key, mode === 'union' ? union(list) : intersection(list)]));
    const keys = [...properties.keys()];
    const required = new Set(mode === 'union' ? keys.filter((k) => parts.every((p) => p.required.has(k))) : keys.filter((k) => parts.some((p) => p.required.has(k))));
    return { properties, required };
}

/** What one property's schema admits. */
function admits(node: unknown, scope: Scope): Admits {
    if (node === false) return { kinds: new Set(), nullable: true };
    if (!isRecord(node) || scope.depth > MAX_DEPTH) return ANY();
    const ref = followRef(node, scope);
    // A cycle leads back to an object on the way here (a recursive model): JSON, but present.
    if (ref === 'cycle') return ONLY('json');
    if (ref === 'missing') return ANY();
    if (ref) return admits(ref.target, ref.scope);
    const inner = { ...scope, depth: scope.depth + 1 };
    const a = admitsOwn(node, inner);
    if (node['nullable'] === true) a.nullable = true;
    return a;
}

function admitsOwn(node: Record<string, unknown>, inner: Scope): Admits {
    const alternatives = [node['anyOf'], node['oneOf']].filter(Array.isArray).flat() as unknown[];
    if (alternatives.length > 0) return union(alternatives.map((m) => admits(m, inner)));
    if (Array.isArray(node['allOf']) && node['allOf'].length > 0) return intersection(node['allOf'].map((m) => admits(m, inner)));
    if (Array.isArray(node['enum'])) return union(node['enum'].map(admitsValue));
    if (Object.hasOwn(node, 'const')) return admitsValue(node['const']);
    const types = typeList(node['type']);
    if (types.length > 0) {
        return union(
            types.map((t): Admits => {
                switch (t) {
                    case 'string':
                        return ONLY(node['format'] === 'date-time' ? 'timestamp' : 'text');
                    case 'integer':
                        return ONLY('integer');
                    case 'number':
                        return ONLY('real');
                    case 'boolean':
                        return ONLY('boolean');
                    case 'null':
                        return { kinds: new Set(), nullable: true };
                    default:
                        return ONLY('json');
                }
            }),
        );
    }
    if (['properties', 'additionalProperties', 'patternProperties', 'propertyNames', 'items'].some((k) => Object.hasOwn(node, k))) return ONLY('json');
    return ANY();
}

/** The type of one literal value of an `enum` or `const`. */
function admitsValue(v: unknown): Admits {
    if (v === undefined) return ANY();
    if (v === null) return { kinds: new Set(), nullable: true };
    if (typeof v === 'string') return ONLY('text');
    if (typeof v === 'boolean') return ONLY('boolean');
    if (typeof v === 'number') return ONLY(Number.isInteger(v) ? 'integer' : 'real');
    return ONLY('json');
}

function typeList(type: unknown): string[] {
    if (typeof type === 'string') return [type];
    return Array.isArray(type) ? type.filter((t): t is string => typeof t === 'string') : [];
}

/**
 * The target of `node.$ref` and the scope to read it in; `'missing'` for a reference that cannot
 * be followed (outside the document, or not found), `'cycle'` for one back to a schema on the way
 * here; `undefined` without `$ref`.
 */
function followRef(node: Record<string, unknown>, scope: Scope): { target: unknown; scope: Scope } | 'missing' | 'cycle' | undefined {
    const ref = node['$ref'];
    if (typeof ref !== 'string') return undefined;
    const found = resolveRef(ref, scope.bases, scope.document);
    if (!found) return 'missing';
    if (scope.visited.has(found.target)) return 'cycle';
    const bases = found.base === scope.document ? [found.target, ...scope.bases] : scope.bases;
    return { target: found.target, scope: { bases, document: scope.document, visited: new Set([...scope.visited, found.target]), depth: scope.depth + 1 } };
}

/** A `#…` JSON pointer, looked up in each base (innermost first), then in the document. */
function resolveRef(ref: string, bases: readonly unknown[], document: unknown): { target: unknown; base: unknown } | undefined {
    if (!ref.startsWith('#')) return undefined;
    let segments: string[];
    try {
        segments = ref.length <= 1 ? [] : decodeURIComponent(ref.slice(1)).split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    } catch {
        return undefined;
    }
    for (const base of [...bases, document]) {
        let at: unknown = base;
        for (const s of segments) at = isRecord(at) && Object.hasOwn(at, s) ? at[s] : Array.isArray(at) && /^\d+$/.test(s) ? at[Number(s)] : undefined;
        if (at !== undefined) return { target: at, base };
    }
    return undefined;
}

/**
 * The parts of the document, outside the definition, that the definition reaches through `$ref`
 * (transitively), by pointer: what the schema version covers besides the definition itself.
 */
function documentRefs(definition: unknown, document: unknown): Record<string, unknown> {
    const refs: Record<string, unknown> = {};
    const walk = (node: unknown, bases: readonly unknown[]): void => {
        if (Array.isArray(node)) {
            for (const m of node) walk(m, bases);
            return;
        }
        if (!isRecord(node)) return;
        const ref = node['$ref'];
        if (typeof ref === 'string' && !Object.hasOwn(refs, ref)) {
            const found = resolveRef(ref, bases, document);
            if (found && found.base === document) {
                refs[ref] = found.target;
                walk(found.target, [found.target, ...bases]);
            }
        }
        for (const v of Object.values(node)) walk(v, bases);
    };
    walk(definition, [definition]);
    return refs;
}

// ---------------------------------------------------------------------------------------------
// Legacy `models[].fields`

function propertiesFromLegacyFields(fields: readonly unknown[]): ModelProperty[] {
    // `__extends` copies fields in: a repeated name keeps its first place and its last definition, as Nango's own conversion does.
    const byName = new Map<string, ModelProperty>();
    for (const field of fields.flat()) {
        if (!isRecord(field) || typeof field['name'] !== 'string' || field['dynamic'] === true) continue;
        const optionalName = field['name'].endsWith('?');
        const property = optionalName ? field['name'].slice(0, -1) : field['name'];
        let a: Admits;
        let optional = optionalName || field['optional'] === true;
        if (Object.hasOwn(field, 'value')) {
            a = nangoFieldAdmits(field, 0);
        } else if (typeof field['type'] === 'string') {
            const t = typeTextAdmits(field['type']);
            a = t.admits;
            optional ||= t.optional;
        } else {
            a = ANY();
        }
        byName.set(property, { property, type: columnType(a), nullable: a.nullable || optional });
    }
    return [...byName.values()];
}

/** A `NangoModelField` (`{name, value, tsType?, array?, model?, union?}`). */
function nangoFieldAdmits(field: Record<string, unknown>, depth: number): Admits {
    const value = field['value'];
    if (field['array'] === true || field['model'] === true) return ONLY('json');
    if (field['union'] === true && Array.isArray(value) && depth < MAX_DEPTH) {
        return union(value.map((m) => (isRecord(m) ? nangoFieldAdmits(m, depth + 1) : ANY())));
    }
    if (typeof value === 'string') return keywordAdmits(value) ?? (field['tsType'] === true ? ONLY('json') : ONLY('text'));
    if (Array.isArray(value)) return ONLY('json');
    return admitsValue(value);
}

/** A TypeScript type name as Nango's legacy parsers wrote it; `undefined` when it is not one of these. */
function keywordAdmits(type: string): Admits | undefined {
    switch (type.trim().toLowerCase()) {
        case 'string':
        case 'char':
        case 'varchar':
        case 'text':
            return ONLY('text');
        case 'number':
        case 'float':
        case 'double':
        case 'decimal':
            return ONLY('real');
        case 'integer':
        case 'int':
            return ONLY('integer');
        case 'boolean':
        case 'bool':
            return ONLY('boolean');
        case 'date':
            return ONLY('timestamp');
        case 'null':
        case 'undefined':
            return { kinds: new Set(), nullable: true };
        case 'any':
        case 'unknown':
        case 'object':
        case 'bigint':
            return ANY();
        default:
            return undefined;
    }
}

/** The 2023 form's TypeScript text, e.g. `string | null`, `'a' | 'b'`, `Date`, `Foo[]`. */
function typeTextAdmits(text: string): { admits: Admits; optional: boolean } {
    const members = splitTopLevelUnion(text);
    const optional = members.some((m) => m === 'undefined');
    const parts = members
        .filter((m) => m !== 'undefined')
        .map((m): Admits => {
            if (m.endsWith('[]') || /^(Array|ReadonlyArray|Record|Map|Set)\s*</.test(m) || m.startsWith('{')) return ONLY('json');
            const keyword = keywordAdmits(m);
            if (keyword) return keyword;
            if (/^(['"`]).*\1$/s.test(m)) return ONLY('text');
            if (m === 'true' || m === 'false') return ONLY('boolean');
            if (/^-?\d+(\.\d+)?$/.test(m)) return ONLY(m.includes('.') ? 'real' : 'integer');
            return ONLY('json'); // a model name, or a type this mapping does not read
        });
    return { admits: parts.length === 0 ? ANY() : union(parts), optional };
}

/** `A | B<C | D> | E` → ['A', 'B<C | D>', 'E']: splits on `|` outside brackets and quotes. */
function splitTopLevelUnion(text: string): string[] {
    const out: string[] = [];
    let depth = 0;
    let quote: string | undefined;
    let current = '';
    for (const ch of text) {
        if (quote) {
            if (ch === quote) quote = undefined;
        } else if (ch === "'" || ch === '"' || ch === '`') quote = ch;
        else if ('<{(['.includes(ch)) depth++;
        else if ('>})]'.includes(ch)) depth--;
        else if (ch === '|' && depth === 0) {
            out.push(current.trim());
            current = '';
            continue;
        }
        current += ch;
    }
    out.push(current.trim());
    return out.filter((m) => m !== '');
}

function isRecord(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
