import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DATABASE_URL_ENV, configSchema, databaseConfigSchema, serverConfigSchema, type Config, type DatabaseConfig, type ServerConfig } from './schema.js';

/** A start-up error whose message names every bad key and what is allowed. */
export class ConfigError extends Error {
    override readonly name = 'ConfigError';
}

export function isConfigError(err: unknown): err is ConfigError {
    return err instanceof ConfigError;
}

/** Where the config file is: `--config`, else `$NANGO_MIRROR_CONFIG`, else `./config.json`. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
    return flag ?? env['NANGO_MIRROR_CONFIG'] ?? './config.json';
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
    return parseConfig(readConfigJson(path), env, path);
}

/** For `migrate` and `backup`: only `database` (and `logLevel`) are checked; Nango's keys may be absent. */
export function loadDatabaseConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
    return parseWith(databaseConfigSchema, readConfigJson(path), env, path);
}

/** For `healthcheck`: only `server` (and `logLevel`) are checked. */
export function loadServerConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): ServerConfig {
    return parseWith(serverConfigSchema, readConfigJson(path), env, path);
}

function readConfigJson(path: string): unknown {
    let text: string;
    try {
        text = readFileSync(path, 'utf8');
    } catch (err) {
        throw new ConfigError(
            `Cannot read the config file ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}). ` +
                'Pass --config <file>, set NANGO_MIRROR_CONFIG, or create ./config.json (see config.example.json).',
        );
    }
    let raw: unknown;
    try {
        raw = JSON.parse(text);
    } catch (err) {
        throw new ConfigError(`The config file ${path} is not valid JSON: ${(err as Error).message}`);
    }
    return raw;
}

/**
 * Validates a parsed config after `${NAME}` substitution; throws one ConfigError listing every problem.
 * `database.url`, when the config leaves it out, is `$NANGO_MIRROR_DATABASE_URL` if set, else the
 * schema's default: the file wins, then the environment, then the built-in default.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): Config {
    return parseWith(configSchema, raw, env, source);
}

/** Exported for the tests of the partial configs; the commands use the load functions. */
export function parseDatabaseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): DatabaseConfig {
    return parseWith(databaseConfigSchema, raw, env, source);
}

function parseWith<S extends z.ZodType>(schema: S, raw: unknown, env: NodeJS.ProcessEnv, source: string): z.output<S> {
    const missing: string[] = [];
    const substituted = withDatabaseUrlFromEnv(substituteEnv(raw, env, '', missing), env);
    if (missing.length > 0) {
        throw new ConfigError(
            `${source}: environment variables referenced but not set:\n` +
                missing.map((m) => `  - ${m}`).join('\n') +
                '\nSet them, or write the value into the file.',
        );
    }
    const result = schema.safeParse(substituted);
    if (!result.success) {
        throw new ConfigError(`${source} is invalid:\n${formatIssues(result.error)}`);
    }
    return result.data;
}

/** Puts `$NANGO_MIRROR_DATABASE_URL` in `database.url` when the config has none (an empty variable counts as unset). */
function withDatabaseUrlFromEnv(config: unknown, env: NodeJS.ProcessEnv): unknown {
    const url = env[DATABASE_URL_ENV];
    if (!url || config === null || typeof config !== 'object' || Array.isArray(config)) return config;
    const database = (config as Record<string, unknown>)['database'] ?? {};
    if (database === null || typeof database !== 'object' || Array.isArray(database) || 'url' in database) return config;
    return { ...config, database: { ...database, url } };
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string, missing: string[]): unknown {
    if (typeof value === 'string') {
        return value.replace(ENV_REF, (_m, name: string) => {
            const v = env[name];
            if (v === undefined) {
                missing.push(`${name} (used by ${path || '(root)'})`);
                return '';
            }
            return v;
        });
    }
    if (Array.isArray(value)) {
        return value.map((v, i) => substituteEnv(v, env, `${path}[${i}]`, missing));
    }
    if (value !== null && typeof value === 'object') {
        return Object.fromEntries(
            Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, path ? `${path}.${k}` : k, missing)]),
        );
    }
    return value;
}

function formatIssues(error: z.ZodError): string {
    const lines: string[] = [];
    for (const issue of error.issues) {
        const at = issue.path.map(String).join('.') || '(root)';
        if (issue.code === 'unrecognized_keys') {
            const parent = issue.path.length ? `${at}.` : '';
            const allowed = allowedKeysAt(issue.path);
            for (const key of issue.keys) {
                lines.push(
                    `  - ${parent}${key}: unknown key` + (allowed ? `; allowed here: ${allowed.join(', ')}` : ''),
                );
            }
            continue;
        }
        lines.push(`  - ${at}: ${issue.message}`);
    }
    return lines.join('\n');
}

/** The keys the schema allows at a path, so an "unknown key" message can say what would be right. */
function allowedKeysAt(path: PropertyKey[]): string[] | undefined {
    let node: z.core.$ZodType = configSchema;
    for (const segment of path) {
        node = unwrap(node);
        if (node instanceof z.ZodObject) {
            const next: z.core.$ZodType | undefined = (node.shape as Record<string, z.core.$ZodType>)[String(segment)];
            if (!next) return undefined;
            node = next;
        } else if (node instanceof z.ZodArray) {
            node = node.element;
        } else {
            return undefined;
        }
    }
    node = unwrap(node);
    return node instanceof z.ZodObject ? Object.keys(node.shape) : undefined;
}

function unwrap(node: z.core.$ZodType): z.core.$ZodType {
    let n = node;
    for (;;) {
        if (n instanceof z.ZodDefault || n instanceof z.ZodPrefault || n instanceof z.ZodOptional) {
            n = n.unwrap();
        } else {
            return n;
        }
    }
}

/** The signing keys as a list, whichever form the config used. */
export function signingKeys(config: Config): string[] {
    const k = config.nango.webhookSigningKey;
    return Array.isArray(k) ? k : [k];
}
