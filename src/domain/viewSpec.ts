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
