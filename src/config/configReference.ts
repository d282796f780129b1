import { configJsonSchema } from './jsonSchema.js';

/** One row of the README's configuration table. */
export interface ConfigKeyDoc {
    key: string;
    /** `required`, `none`, or the default as the README shows it. */
    default: string;
    description: string;
}

interface JsonSchemaNode {
    type?: string;
    description?: string;
    default?: unknown;
    properties?: Record<string, JsonSchemaNode>;
    required?: string[];
    items?: JsonSchemaNode;
}

/**
 * Every key of the config file with its default and description, read from the JSON Schema that
 * zod generates, so the README's table is made from the same source as validation.
 * Sections (`nango`, `server`, `sync.retry`, …) are not rows: their keys are.
 */
export function configReference(): ConfigKeyDoc[] {
    const rows: ConfigKeyDoc[] = [];
    const walk = (node: JsonSchemaNode, prefix: string, topLevel: boolean) => {
        for (const [name, child] of Object.entries(node.properties ?? {})) {
            const key = prefix + name;
            const section = child.type === 'object' && child.properties !== undefined && (topLevel || isEmptyObject(child.default));
            if (!section) {
                const required = node.required?.includes(name) === true && child.default === undefined;
                rows.push({ key, default: required ? 'required' : showDefault(child.default), description: child.description ?? '' });
            }
            if (child.type === 'object' && child.properties) walk(child, `${key}.`, false);
            if (child.type === 'array' && child.items?.properties) walk(child.items, `${key}[].`, false);
        }
    };
    walk(configJsonSchema(), '', true);
    return rows;
}

/** The table as Markdown, one row per key. */
export function configReferenceTable(): string {
    const escape = (text: string) => text.replace(/\|/g, '\\|');
    return [
        '| Key | Default | Meaning |',
        '|---|---|---|',
        ...configReference().map((r) => `| \`${r.key}\` | ${r.default} | ${escape(r.description)} |`),
    ].join('\n');
}

function showDefault(value: unknown): string {
    if (value === undefined) return 'none';
    return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function isEmptyObject(value: unknown): boolean {
    return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}
