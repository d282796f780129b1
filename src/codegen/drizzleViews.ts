import type { GeneratedViewColumn, GeneratedViewSpec, ViewColumnType } from '../domain/viewSpec.js';

/**
 * # `nango-mirror codegen`: drizzle definitions of the generated views
 *
 * A pure function of the recorded view specs and the engine: the same input gives the same bytes
 * (views sorted by name, columns in the view's order, no dates in the file), so the file can be
 * committed and a diff shows what a deploy changed.
 *
 * **Field names are Nango's property names** (`firstName`, `first_name`, `Deleted-At`: whatever
 * the model says), each mapped to its SQL column (`firstName: text('first_name')`). Why not
 * camelCase of the column name: the row type then has the very fields of Nango's model, the ones
 * the app's code used with the `schema.ts` types Nango used to generate, and a property that
 * snake_cases to a hashed column (`first_name__1a2b3c4d`, when `firstName` and `first_name` both
 * exist) keeps its readable name. A key that is not a TypeScript identifier is written quoted
 * (`view['e-mail']`). The view's own columns have fixed fields: `connectionId`, `variant`, `id`,
 * `_lastModifiedAt`, `_firstSeenAt` and, on `<name>_all`, `_deletedAt` (the leading `_` marks the
 * mirror's bookkeeping, as the column names do, and keeps clear of a model's `lastModifiedAt`
 * or `deletedAt`). A property named like a fixed field (`variant`, `connectionId`) takes its
 * column's name instead (`variant__1a2b3c4d`), which no property can have.
 *
 * **Constants and types**: the view `nango_hubspot_contact` is `nangoHubspotContact` (each `_`
 * before a letter dropped and the letter capitalized; any other `_` kept, so distinct view names
 * stay distinct), its row type `NangoHubspotContact`; the companion `nango_hubspot_contact_all` is
 * `nangoHubspotContactAll` / `NangoHubspotContactAll`.
 *
 * **Column builders** follow the SQL types the views produce (src/storage/{sqlite,postgres}/views.ts).
 * Every property column is nullable whatever the schema says: a value that does not fit its type
 * reads NULL. `.notNull()` only where the view guarantees a value (connection_id, variant, id,
 * _last_modified_at, _first_seen_at).
 */

export type CodegenDialect = { engine: 'sqlite' } | { engine: 'postgres'; /** `database.schema`; `public` uses `pgView`. */ schema: string };

interface Builder {
    /** The drizzle function the column calls (imported once). */
    fn: string;
    /** The call, given the column's quoted SQL name. */
    call: (column: string) => string;
}

const SQLITE: Record<ViewColumnType, Builder> = {
    text: { fn: 'text', call: (c) => `text(${c})` },
    // Microsecond UTC ISO-8601 text (`2026-11-30T10:00:01.123456Z`), as the mirror's own timestamps: it sorts in time order.
    timestamp: { fn: 'text', call: (c) => `text(${c})` },
    integer: { fn: 'integer', call: (c) => `integer(${c})` },
    real: { fn: 'real', call: (c) => `real(${c})` },
    // The view gives 1/0.
    boolean: { fn: 'integer', call: (c) => `integer(${c}, { mode: 'boolean' })` },
    // The view gives JSON text; drizzle parses it.
    json: { fn: 'text', call: (c) => `text(${c}, { mode: 'json' })` },
};

const POSTGRES: Record<ViewColumnType, Builder> = {
    text: { fn: 'text', call: (c) => `text(${c})` },
    // The ISO text Postgres prints (microseconds, offset), not a Date: a Date would drop the microseconds.
    timestamp: { fn: 'timestamp', call: (c) => `timestamp(${c}, { withTimezone: true, mode: 'string' })` },
    // bigint: exact up to 2^53 as a number (past that, change the mode to 'bigint' by hand).
    integer: { fn: 'bigint', call: (c) => `bigint(${c}, { mode: 'number' })` },
    real: { fn: 'doublePrecision', call: (c) => `doublePrecision(${c})` },
    boolean: { fn: 'boolean', call: (c) => `boolean(${c})` },
    json: { fn: 'jsonb', call: (c) => `jsonb(${c})` },
};

/** The view's own columns: SQL name, field name, type, and whether only the `_all` companion has it. */
const OWN_COLUMNS: ReadonlyArray<{ column: string; field: string; type: 'text' | 'timestamp'; position: 'first' | 'last'; allOnly?: true }> = [
    { column: 'connection_id', field: 'connectionId', type: 'text', position: 'first' },
    { column: 'variant', field: 'variant', type: 'text', position: 'first' },
    { column: 'id', field: 'id', type: 'text', position: 'first' },
    { column: '_last_modified_at', field: '_lastModifiedAt', type: 'timestamp', position: 'last' },
    { column: '_first_seen_at', field: '_firstSeenAt', type: 'timestamp', position: 'last' },
    { column: 'deleted_at', field: '_deletedAt', type: 'timestamp', position: 'last', allOnly: true },
];
const OWN_FIELDS = new Set(OWN_COLUMNS.map((c) => c.field));

/** The Postgres schema's constant: `nango_mirror…` names are reserved, so no view's constant is this. */
const SCHEMA_CONSTANT = 'nangoMirrorSchema';
const TAKEN_CONSTANTS = new Set([SCHEMA_CONSTANT, 'sqliteView', 'pgView', 'pgSchema', ...[SQLITE, POSTGRES].flatMap((b) => Object.values(b).map((x) => x.fn))]);

/** The TypeScript module for these views (see the module comment). */
export function drizzleViewsModule(views: readonly GeneratedViewSpec[], dialect: CodegenDialect): string {
    const sorted = [...views].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const builders = dialect.engine === 'sqlite' ? SQLITE : POSTGRES;
    const used = new Set<string>();
    const column = (type: ViewColumnType, sqlName: string) => {
        used.add(builders[type].fn);
        return builders[type].call(stringLiteral(sqlName));
    };
    const schemaName = dialect.engine === 'postgres' && dialect.schema !== 'public' ? dialect.schema : undefined;
    const viewFn = dialect.engine === 'sqlite' ? 'sqliteView' : schemaName === undefined ? 'pgView' : `${SCHEMA_CONSTANT}.view`;
    const own = (o: (typeof OWN_COLUMNS)[number]) => `${o.field}: ${column(o.type, o.column)}${o.allOnly ? '' : '.notNull()'},`;

    const bodies = sorted.map((v) => {
        const fields = fieldNames(v.columns);
        const constant = constantName(v.name);
        const allConstant = constantName(v.allName);
        // One function for both views' columns (a builder belongs to one view): `_` before a
        // lowercase letter never survives in a view's constant, so this name is no view's.
        const columns = `${constant}_columns`;
        return [
            `/** ${comment(`${v.providerConfigKey} / ${v.model}: schema ${v.schemaVersion}, from sync ${v.sync.name}${v.sync.version !== undefined ? ` v${v.sync.version}` : ''}.`)} */`,
            `const ${columns} = () => ({`,
            ...OWN_COLUMNS.filter((o) => o.position === 'first').map((o) => `    ${own(o)}`),
            ...v.columns.map((c, i) => `    ${propertyKey(fields[i]!)}: ${column(c.type, c.name)},`),
            ...OWN_COLUMNS.filter((o) => o.position === 'last' && !o.allOnly).map((o) => `    ${own(o)}`),
            '});',
            `/** ${comment(`${v.providerConfigKey} / ${v.model}: the live rows.`)} */`,
            `export const ${constant} = ${viewFn}(${stringLiteral(v.name)}, ${columns}()).existing();`,
            `export type ${pascalCase(constant)} = typeof ${constant}.$inferSelect;`,
            `/** ${comment(`${v.providerConfigKey} / ${v.model}: every row, deleted ones included (\`_deletedAt\` set).`)} */`,
            `export const ${allConstant} = ${viewFn}(${stringLiteral(v.allName)}, { ...${columns}(), ${OWN_COLUMNS.filter((o) => o.allOnly).map(own).join(' ').replace(/,$/, '')} }).existing();`,
            `export type ${pascalCase(allConstant)} = typeof ${allConstant}.$inferSelect;`,
        ].join('\n');
    });

    const core = dialect.engine === 'sqlite' ? 'drizzle-orm/sqlite-core' : 'drizzle-orm/pg-core';
    const imports = [...used, dialect.engine === 'sqlite' ? 'sqliteView' : schemaName === undefined ? 'pgView' : 'pgSchema'];
    const header = [
        '// Generated by `nango-mirror codegen` from the typed views the mirror recorded (nango_mirror_views):',
        `// drizzle definitions of the existing views (${dialect.engine === 'sqlite' ? 'SQLite' : 'Postgres'}) and a row type for each.`,
        '// Do not edit: run `nango-mirror codegen --out <this file>` again after a deploy changes a model.',
    ];
    if (sorted.length === 0) {
        return [...header, '// No generated views are recorded yet: run the daemon (sync.views.auto) until it has mirrored a model with a schema.', 'export {};', ''].join('\n');
    }
    return [
        ...header,
        `import { ${[...new Set(imports)].sort().join(', ')} } from '${core}';`,
        '',
        ...(schemaName !== undefined ? [`/** The Postgres schema the mirror writes to (\`database.schema\`). */`, `export const ${SCHEMA_CONSTANT} = pgSchema(${stringLiteral(schemaName)});`, ''] : []),
        bodies.join('\n\n'),
        '',
    ].join('\n');
}

/**
 * The field of each property column, in order: Nango's property, unless a fixed field has that
 * name (then its column's name, which is hashed and no fixed field). Properties are distinct keys,
 * so a clash left is only a property literally named like another's hashed column: the later one
 * gets `_2`.
 */
function fieldNames(columns: readonly GeneratedViewColumn[]): string[] {
    const taken = new Set(OWN_FIELDS);
    return columns.map((c) => {
        const wanted = OWN_FIELDS.has(c.property) ? c.name : c.property;
        let field = wanted;
        for (let n = 2; taken.has(field); n++) field = `${wanted}_${n}`;
        taken.add(field);
        return field;
    });
}

/** Text for a doc comment. */
function comment(text: string): string {
    return text.replace(/\*\//g, '*\\/');
}

/**
 * The constant of a view. A name the module imports or declares (`pg_view` → `pgView` with an
 * empty prefix) gets a trailing `_`, which no view's constant has (view names never end in `_`).
 */
function constantName(view: string): string {
    const camel = camelCase(view);
    return TAKEN_CONSTANTS.has(camel) ? `${camel}_` : camel;
}

/** `nango_hubspot_contact` → `nangoHubspotContact`: each `_` before a lowercase letter goes and the letter is capitalized. */
export function camelCase(snake: string): string {
    const out = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(out) ? out : `_${out}`;
}

function pascalCase(camel: string): string {
    return camel.charAt(0).toUpperCase() + camel.slice(1);
}

function propertyKey(name: string): string {
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : stringLiteral(name);
}

/** A TypeScript string literal: single-quoted when nothing needs escaping, else JSON's escapes. */
function stringLiteral(text: string): string {
    return /^[\x20-\x7e]*$/.test(text) && !/['\\]/.test(text) ? `'${text}'` : JSON.stringify(text);
}

/**
 * A view spec as `nango_mirror_views.spec` holds it (JSON text of a GeneratedViewSpec). Throws,
 * naming the view, on one that does not have the fields codegen reads.
 */
export function recordedViewSpec(name: string, text: string): GeneratedViewSpec {
    let spec: Partial<GeneratedViewSpec>;
    try {
        spec = JSON.parse(text) as Partial<GeneratedViewSpec>;
    } catch {
        throw new Error(`nango_mirror_views: the spec of ${name} is not JSON.`);
    }
    const columnsOk =
        Array.isArray(spec.columns) &&
        spec.columns.every((c) => typeof c?.name === 'string' && typeof c.property === 'string' && typeof c.type === 'string' && Object.hasOwn(SQLITE, c.type));
    if (spec.name !== name || typeof spec.allName !== 'string' || typeof spec.providerConfigKey !== 'string' || typeof spec.model !== 'string' || !columnsOk || typeof spec.sync?.name !== 'string') {
        throw new Error(`nango_mirror_views: the spec of ${name} is not one codegen can read; restart the daemon (this version) so that it records the views again.`);
    }
    return spec as GeneratedViewSpec;
}
