import { z } from 'zod';
import { MODEL_NAME_PATTERN, NANGO_NAME_MAX_LENGTH, PROVIDER_CONFIG_KEY_PATTERN, VARIANT_NAME_PATTERN } from '../domain/nangoNames.js';

/** Names Nango accepts for an integration, a model and a variant (protocol §4.1). */
export const providerConfigKeyName = z.string().regex(PROVIDER_CONFIG_KEY_PATTERN).max(NANGO_NAME_MAX_LENGTH);
export const modelName = z.string().regex(MODEL_NAME_PATTERN, 'a Nango model name such as "Contact"').max(NANGO_NAME_MAX_LENGTH);
export const variantName = z.string().regex(VARIANT_NAME_PATTERN).max(NANGO_NAME_MAX_LENGTH);
/** A plain lowercase SQL identifier: safe to put in DDL without quoting tricks. */
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase SQL identifier (letters, digits, _; at most 63)');

const nangoSchema = z
    .strictObject({
        /**
         * Base URL of Nango's API.
         * @default "https://api.nango.dev"
         */
        host: z.url({ protocol: /^https?$/ }).default('https://api.nango.dev').describe('Base URL of Nango\'s API.'),
        /** The environment's secret API key, sent as `Authorization: Bearer`. Required. */
        apiKey: z.string().min(1).describe('The environment\'s secret API key, sent as `Authorization: Bearer`. Required.'),
        /**
         * The environment's webhook signing key (not the API key). An array accepts every key
         * in it, for the rotation window in which Nango signs with the old and the new key.
         */
        webhookSigningKey: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe('The environment\'s webhook signing key (not the API key). An array accepts every key in it, for the rotation window in which Nango signs with the old and the new key.'),
        /**
         * Also accept the legacy `X-Nango-Signature` (sha256(key + body)); open to length extension.
         * @default false
         */
        acceptLegacySignature: z.boolean().default(false).describe('Also accept the legacy `X-Nango-Signature` (sha256(key + body)); open to length extension.'),
    })
    .describe('How to reach Nango and how to check its webhooks.');

const serverSchema = z
    .strictObject({
        /** @default "0.0.0.0" */
        host: z.string().min(1).default('0.0.0.0'),
        /** @default 8080 */
        port: z.number().int().min(0).max(65535).default(8080),
        /** @default "/webhooks/nango" */
        webhookPath: z.string().regex(/^\/[^\s?#]*$/, 'a path starting with "/"').default('/webhooks/nango'),
        /**
         * Largest webhook body accepted. Nango never retries a 413, so keep it generous.
         * @default 10485760 (10 MiB)
         */
        maxBodyBytes: z.number().int().min(1024).default(10 * 1024 * 1024).describe('Largest webhook body accepted. Nango never retries a 413, so keep it generous.'),
    })
    .prefault({});

const databaseSchema = z
    .strictObject({
        /**
         * `sqlite:<path>` (parent folders are created) or `postgres://…` (a later release).
         * @default "sqlite:./data/mirror.db"
         */
        url: z
            .string()
            .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'sqlite:<path> or postgres://…')
            .default('sqlite:./data/mirror.db').describe('`sqlite:<path>` (parent folders are created) or `postgres://user:pass@host:5432/db` (also `postgresql://`).'),
        /**
         * Postgres only: the schema every table and view goes in; created if missing.
         * @default "public"
         */
        schema: identifier.default('public').describe('Postgres only: the schema every table and view goes in; created if missing.'),
    })
    .prefault({});

const retrySchema = z
    .strictObject({
        /**
         * Tries per Nango request for 5xx, network errors and timeouts before the pull fails.
         * 429 answers are waited out and do not count.
         * @default 5
         */
        attempts: z.number().int().min(1).max(20).default(5).describe('Tries per Nango request for 5xx, network errors and timeouts before the pull fails. 429 answers are waited out and do not count.'),
        /** @default 500 */
        baseDelayMs: z.number().int().min(0).default(500),
        /** @default 30000 */
        maxDelayMs: z.number().int().min(0).default(30_000),
        /**
         * Delay before a failed pull is tried again, doubled per consecutive failure.
         * @default 5000
         */
        failedPullDelayMs: z.number().int().min(0).default(5000).describe('Delay before a failed pull is tried again, doubled per consecutive failure.'),
        /** @default 900000 (15 minutes) */
        failedPullMaxDelayMs: z.number().int().min(0).default(900_000),
    })
    .prefault({});

const syncSchema = z
    .strictObject({
        /** Records per `GET /records` page. @default 1000 */
        pageSize: z.number().int().min(1).max(10_000).default(1000).describe('Records per `GET /records` page.'),
        /** Keys pulled at once. @default 4 */
        concurrency: z.number().int().min(1).max(256).default(4).describe('Keys pulled at once.'),
        /** Pull every known key this often, to catch lost webhooks; 0 turns it off. @default 900 */
        reconcileIntervalSeconds: z.number().int().min(0).default(900).describe('Pull every known key this often, to catch lost webhooks; 0 turns it off.'),
        /** Client timeout for one Nango request (the official SDK has none). @default 30 */
        requestTimeoutSeconds: z.number().positive().max(600).default(30).describe('Client timeout for one Nango request (the official SDK has none).'),
        /** `soft`: keep deleted rows with `deleted_at` set; `hard`: delete them. @default "soft" */
        deletes: z.enum(['soft', 'hard']).default('soft').describe('`soft`: keep deleted rows with `deleted_at` set; `hard`: delete them.'),
        /**
         * On start-up and at every reconcile pass, list the connections and sync models in Nango
         * and seed a key for each, so a fresh daemon backfills without waiting for webhooks.
         * @default false
         */
        discover: z.boolean().default(false).describe('On start-up and every reconcile pass, list connections and sync models in Nango and seed a key for each (variants still come from webhooks).'),
        retry: retrySchema,
    })
    .prefault({});

/** `$.a.b[0]`: object keys that are identifiers, and array indexes. Nothing else reaches SQL. */
const jsonPath = z
    .string()
    .regex(/^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d{1,6}\])+$/, 'a JSON path such as "$.email" or "$.address.city" or "$.tags[0]"');

const viewColumnType = z.enum(['text', 'integer', 'real', 'boolean', 'timestamp', 'json']);

const viewSchema = z.strictObject({
    /** The view's name: a lowercase SQL identifier. */
    name: identifier.describe('The view\'s name: a lowercase SQL identifier.'),
    /** Column name → `"$.json.path"` (text) or `{path, type}`. */
    columns: z
        .record(identifier, z.union([jsonPath, z.strictObject({ path: jsonPath, type: viewColumnType.default('text') })]))
        .refine((c) => Object.keys(c).length > 0, 'at least one column')
        .describe('Column name → "$.json.path" (text) or {path, type}; type is text, integer, real, boolean, timestamp or json.'),
});

const modelEntrySchema = z.strictObject({
    providerConfigKey: providerConfigKeyName,
    model: modelName,
    /** Omit to accept every variant of the model. */
    variant: variantName.optional().describe('Omit to accept every variant of the model.'),
    /** A typed view over this model's live records, re-created at start-up. */
    view: viewSchema.optional().describe('A typed view over this model\'s live records, re-created at start-up.'),
    /** JSON paths the app filters on: each gets an expression index. */
    indexes: z.array(jsonPath).default([]).describe('JSON paths the app filters on: each gets an expression index.'),
});

export const configSchema = z
    .strictObject({
        /** Optional: the JSON Schema this file follows, for editors. */
        $schema: z.string().optional().describe('Optional: the JSON Schema this file follows, for editors.'),
        nango: nangoSchema,
        server: serverSchema,
        database: databaseSchema,
        sync: syncSchema,
        /** Allow-list of models to mirror; empty or absent mirrors every model a webhook names. */
        models: z.array(modelEntrySchema).default([]).describe('Allow-list of models to mirror; empty or absent mirrors every model a webhook names.'),
        /** The admin HTTP API (`/admin/*`): off unless a token is set. */
        admin: z
            .strictObject({
                /** Bearer token for `/admin/*`, compared in constant time; unset turns the admin API off. */
                token: z.string().min(16, 'at least 16 characters').optional().describe('Bearer token for /admin/*; unset turns the admin API off.'),
            })
            .prefault({}),
        /** Tell the app when rows changed: a signed POST after each committed page, and/or Postgres NOTIFY. */
        notify: z
            .strictObject({
                /** Where to POST `{providerConfigKey, connectionId, model, variant, upserted, deleted, cursor, committedAt}`. */
                url: z.url({ protocol: /^https?$/ }).optional().describe('Where to POST a notice after each committed page.'),
                /** HMAC-SHA256 key for `X-Nango-Mirror-Hmac-Sha256`; required with `url`. */
                signingKey: z.string().min(16, 'at least 16 characters').optional().describe('HMAC-SHA256 key for X-Nango-Mirror-Hmac-Sha256; required with url.'),
                /** Postgres only: also `NOTIFY <pgChannel>` with the same payload. */
                pgChannel: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase identifier').optional().describe('Postgres only: also NOTIFY this channel with the same payload.'),
                /** Notices kept for a slow or dead app before the oldest are dropped (counted and logged). @default 10000 */
                maxBacklog: z.number().int().min(1).default(10_000).describe('Notices kept for a slow or dead app before the oldest are dropped.'),
                /** Timeout of one POST. @default 10 */
                timeoutSeconds: z.number().positive().max(120).default(10).describe('Timeout of one notification POST.'),
            })
            .refine((n) => n.url === undefined || n.signingKey !== undefined, { message: 'notify.signingKey is required when notify.url is set', path: ['signingKey'] })
            .prefault({}),
        /** pino log level. @default "info" */
        logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
    })
    .superRefine((c, ctx) => {
        if (c.notify.pgChannel !== undefined && !/^postgres(ql)?:/.test(c.database.url)) {
            ctx.addIssue({ code: 'custom', path: ['notify', 'pgChannel'], message: 'needs a Postgres database.url (SQLite has no NOTIFY); remove it or switch to Postgres' });
        }
    })
    .describe('nango-mirror configuration');

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ModelEntry = z.output<typeof modelEntrySchema>;
export type ViewColumnConfig = z.output<typeof viewSchema>['columns'][string];
