export type ViewColumnType = 'text' | 'integer' | 'real' | 'boolean' | 'timestamp' | 'json';

/** A typed view over one model's live records; names and paths are validated identifiers. */
export interface ViewSpec {
    name: string;
    providerConfigKey: string;
    model: string;
    variant?: string | undefined;
    columns: Array<{ name: string; path: string[]; type: ViewColumnType }>;
}

/** An expression index on one JSON path of one model's records. */
export interface IndexSpec {
    name: string;
    providerConfigKey: string;
    model: string;
    path: string[];
}

/**
 * A column of a generated view: one top-level property of the model (see modelSchema.ts for the
 * type mapping, generatedViewNames.ts for the name).
 */
export interface GeneratedViewColumn {
    name: string;
    /**
     * Always `[property]`: one object key, which can be any string Nango's model uses (not only an
     * identifier, and an all-digit key is still a key, not an array index), so a renderer must quote
     * it as a JSON path key.
     */
    path: string[];
    type: ViewColumnType;
    /** The value may be missing or null (the column reads NULL whenever it does not fit anyway). */
    nullable: boolean;
    /** The property's key as Nango names it (for code generation). */
    property: string;
}

/**
 * A view generated from Nango's schema of one (integration, model): a {@link ViewSpec} over every
 * variant of the model (`variant` unset), plus what the mirror records about where it came from.
 */
export interface GeneratedViewSpec extends ViewSpec {
    columns: GeneratedViewColumn[];
    /** The companion view over every row, deleted ones included: `<name>_all`. */
    allName: string;
    /** The model schema's fingerprint: replace the view when it changes (modelSchema.ts). */
    schemaVersion: string;
    /** Which of Nango's encodings the columns came from: `json_schema`, or the legacy `models[].fields`. */
    schemaOrigin: 'json_schema' | 'legacy_fields';
    /** The `GET /scripts/config` sync the schema was read from. */
    sync: { name: string; id?: number; version?: string; lastDeployed?: string };
}

/**
 * An expression index on one typed column of a generated view (`models[].indexes` naming the
 * column, e.g. `"email"`): its expression is the view's column expression, type guard included,
 * so a filter on the view's column can use it.
 */
export interface TypedIndexSpec {
    name: string;
    providerConfigKey: string;
    model: string;
    /** The generated view the column belongs to. */
    view: string;
    column: Pick<GeneratedViewColumn, 'name' | 'path' | 'type'>;
}
