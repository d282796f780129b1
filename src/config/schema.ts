import { z } from 'zod';
import { MODEL_NAME_PATTERN, NANGO_NAME_MAX_LENGTH, PROVIDER_CONFIG_KEY_PATTERN, VARIANT_NAME_PATTERN } from '../domain/nangoNames.js';
import { DEFAULT_VIEW_PREFIX, isValidViewPrefix } from '../domain/generatedViewNames.js';

/** Names Nango accepts for an integration, a model and a variant (protocol §4.1). */
const providerConfigKeyName = z.string().regex(PROVIDER_CONFIG_KEY_PATTERN).max(NANGO_NAME_MAX_LENGTH);
const modelName = z.string().regex(MODEL_NAME_PATTERN, 'a Nango model name such as "Contact"').max(NANGO_NAME_MAX_LENGTH);
const variantName = z.string().regex(VARIANT_NAME_PATTERN).max(NANGO_NAME_MAX_LENGTH);
/** A plain lowercase SQL identifier: safe to put in DDL without quoting tricks. */
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase SQL identifier (letters, digits, _; at most 63)');

// Every key's documentation is its `.describe()` text: the JSON Schema (editors), the README's table
// (`npm run config:docs`, checked by test/unit/configDocs.test.ts) are made from it.

const nangoSchema = z
    .strictObject({
        host: z.url({ protocol: /^https?$/ }).default('https://api.nango.dev').describe("Base URL of Nango's API (`http` or `https`)."),
        apiKey: z.string().min(1).describe("The environment's secret API key, sent as `Authorization: Bearer`."),
        webhookSigningKey: z
            .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
            .describe("The environment's webhook signing key (not the API key). A string, or an array of strings: every key listed is accepted, for the rotation window in which Nango signs with the old and the new key."),
        acceptLegacySignature: z.boolean().default(false).describe('Also accept the legacy `X-Nango-Signature` (sha256(key + body), open to length extension).'),
    })
    .describe('How to reach Nango and how to check its webhooks.');

export const serverSchema = z
    .strictObject({
        host: z.string().min(1).default('0.0.0.0').describe('Listen address of the public listener (the webhook path, `/healthz`, `/readyz`).'),
        port: z.number().int().min(0).max(65535).default(8080).describe('Listen port of the public listener, 0–65535 (0 picks a free port and logs it).'),
        webhookPath: z.string().regex(/^\/[^\s?#]*$/, 'a path starting with "/"').default('/webhooks/nango').describe('Path of the webhook endpoint; starts with `/`.'),
        maxBodyBytes: z.number().int().min(1024).default(10 * 1024 * 1024).describe('Largest webhook body (10 MiB by default); at least 1024. Nango never retries a 413, so keep it generous.'),
        // 9090 is Prometheus's own port, but this listener is what Prometheus scrapes and the
        // 9xxx range is where exporters live; off loopback, pick another if 9090 is taken.
        adminHost: z
            .string()
            .min(1)
            .default('127.0.0.1')
            .describe('Listen address of the operator listener (status page, `/status.json`, `/changes`, `/metrics`, admin API). Loopback by default; any other address without `admin.token` logs a warning at start-up.'),
        adminPort: z.number().int().min(0).max(65535).default(9090).describe('Listen port of the operator listener, 0–65535 (0 picks a free port and logs it); not `server.port`.'),
    })
    .refine((s) => s.adminPort === 0 || s.adminPort !== s.port, { message: 'must differ from server.port: the operator surfaces have their own listener', path: ['adminPort'] })
    .prefault({})
    .describe('The HTTP listeners: the public one Nango sends webhooks to (webhook path, `/healthz`, `/readyz` only) and the operator one.');

/** The environment variable that gives `database.url` when the config does not (the image sets it to `/data`). */
export const DATABASE_URL_ENV = 'NANGO_MIRROR_DATABASE_URL';

export const databaseSchema = z
    .strictObject({
        url: z
            .string()
            .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'sqlite:<path> or postgres://…')
            .default('sqlite:./data/mirror.db')
            .describe('`sqlite:<path>`, relative to the working directory; parent folders are created. Or `postgres://user:pass@host:5432/db` (`postgresql://` too). When the config leaves it out, `$NANGO_MIRROR_DATABASE_URL` if set (the Docker image sets `sqlite:/data/mirror.db`), else the default.'),
        schema: identifier.default('public').describe('Postgres only: the schema every table and view goes in; created if missing. A lowercase identifier. SQLite ignores it.'),
        walMaxMb: z
            .number()
            .int()
            .min(1)
            .max(65_536)
            .default(256)
            .describe(
                "SQLite only: how large the WAL (the `-wal` file beside the database) may grow during a long pull, in MB (1–65536). Past it the pull waits, before its next page, for the checkpoint to copy the rest of the WAL into the database, and the WAL starts over; each wait is that copy and an fsync of the database file (7–180 ms measured). Smaller keeps less disk and page cache beside the database at the cost of more waits. Postgres ignores it.",
            ),
    })
    .prefault({})
    .describe('Where the mirror is kept.');

const retrySchema = z
    .strictObject({
        attempts: z.number().int().min(1).max(20).default(5).describe('Tries per request on 5xx, network errors and timeouts before the pull fails (1–20). 429s are waited out and do not count.'),
        baseDelayMs: z.number().int().min(0).default(500).describe('Base of the jittered exponential backoff between those tries.'),
        maxDelayMs: z.number().int().min(0).default(30_000).describe('Cap of that backoff.'),
        failedPullDelayMs: z.number().int().min(0).default(5000).describe('Delay before a failed pull is tried again, doubled per consecutive failure.'),
        failedPullMaxDelayMs: z.number().int().min(0).default(900_000).describe('Cap of that delay (15 minutes).'),
    })
    .prefault({})
    .describe('Retries of Nango requests and of failed pulls.');

const syncSchema = z
    .strictObject({
        pageSize: z.number().int().min(1).max(10_000).default(1000).describe('`limit` of each `GET /records` page, 1–10000.'),
        concurrency: z.number().int().min(1).max(256).default(4).describe('Keys pulled at once, 1–256.'),
        pageWorkerIdleSeconds: z
            .number()
            .int()
            .min(1)
            .max(86_400)
            .default(600)
            .describe(
                'Seconds without a pull after which the page worker thread exits (it starts with the first pull). Memory against latency: the worker costs 8–12 MB while it runs, and the first change after it has exited waits for a new one to start (tens to a few hundred ms) instead of a few ms. 1–86400.',
            ),
        reconcileIntervalSeconds: z
            .number()
            .int()
            .min(0)
            .default(900)
            .describe("Seconds between reconcile passes; `0` turns reconcile off, including the start-up pass. A pass asks Nango's sync status once per integration and pulls only the keys whose sync ran since their last pull."),
        fullReconcileIntervalSeconds: z
            .number()
            .int()
            .min(0)
            .default(86_400)
            .describe("The safety net: a reconcile pass also pulls every key not pulled for this long, whatever Nango's sync status says (each key at its own point between half and all of it, so they do not come due together); `0` turns it off."),
        rateLimitReserve: z
            .number()
            .min(0)
            .max(0.9)
            .default(0.2)
            .describe(
                "Fraction of the Nango account's rate limit (X-RateLimit-Limit, per window) that background pulls — reconcile, discovery, the safety net, discovery's backfill — leave to the app and to announced changes: they stop while the remaining requests are within it and resume when the window ends. Pulls a webhook, the admin API or the CLI asked for may spend it. `0` turns the budget off; at most 0.9.",
            ),
        requestTimeoutSeconds: z.number().positive().max(600).default(30).describe('Timeout of one Nango request, body included; at most 600 (the official SDK has none).'),
        deletes: z.enum(['soft', 'hard']).default('soft').describe('`soft`: keep deleted rows with `deleted_at` set. `hard`: delete them.'),
        discover: z
            .boolean()
            .default(false)
            .describe("On start-up and at every reconcile pass, list Nango's connections and sync models and seed a key for each (respecting `models`), so a fresh daemon backfills without waiting for webhooks. Keys the mirror knows are not written again; variants come from the pass's sync status and from webhooks. Discovery is a background request: it waits while the API budget is inside `sync.rateLimitReserve`."),
        purgeDeletedConnectionsAfterHours: z
            .number()
            .min(0)
            .default(0)
            .describe(
                "`0` (the default) keeps a deleted connection's rows. Otherwise, once a connection has been deleted (`deleted_at` in `nango_connections`, set by Nango's `deletion` auth webhook) for this many hours, the next reconcile pass hard-deletes its rows in `nango_records` and its keys in `nango_sync_state`, for apps that must forget a customer; the `nango_connections` row stays.",
            ),
        retry: retrySchema,
        views: z
            .strictObject({
                auto: z
                    .boolean()
                    .default(true)
                    .describe(
                        "Keep a typed view for every mirrored model from Nango's own model schema (`GET /scripts/config`), read on start-up, at each reconcile pass and when a webhook names a model without one; see [Typed views from Nango's schemas](#typed-views-from-nangos-schemas). `false` makes none (and drops those made before at the next start).",
                    ),
                prefix: z
                    .string()
                    .default(DEFAULT_VIEW_PREFIX)
                    .refine(isValidViewPrefix, 'empty, or a lowercase identifier of at most 30 bytes, not starting with sqlite_')
                    .describe('What every generated view name starts with: `<prefix><integration>_<model>` in snake_case. Empty, or a lowercase identifier of at most 30 bytes.'),
            })
            .prefault({})
            .describe("Typed views generated from Nango's model schemas."),
    })
    .prefault({})
    .describe('How records are pulled.');

/** `$.a.b[0]`: object keys that are identifiers, and array indexes. Nothing else reaches SQL. */
const jsonPath = z
    .string()
    .regex(/^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d{1,6}\])+$/, 'a JSON path such as "$.email" or "$.address.city" or "$.tags[0]"');

const viewColumnType = z.enum(['text', 'integer', 'real', 'boolean', 'timestamp', 'json']);

const viewSchema = z
    .strictObject({
        name: identifier.describe("The view's name: a lowercase SQL identifier."),
        columns: z
            .record(identifier, z.union([jsonPath, z.strictObject({ path: jsonPath, type: viewColumnType.default('text') })]))
            .refine((c) => Object.keys(c).length > 0, 'at least one column')
            .describe('Column name → `"$.json.path"` (text) or `{path, type}`; type is `text`, `integer`, `real`, `boolean`, `timestamp` or `json`.'),
    })
    .describe('`{name, columns}`: a typed view over the model\'s live records, re-created at start-up; see [Typed views and indexes](#typed-views-and-indexes).');

const modelEntrySchema = z.strictObject({
    providerConfigKey: providerConfigKeyName.describe('The integration, as Nango names it.'),
    model: modelName.describe('The model, as `GET /records?model=` takes it (e.g. `Contact`).'),
    variant: variantName.optional().describe('Omit to accept every variant of the model.'),
    view: viewSchema.optional(),
    indexes: z
        .array(z.union([jsonPath, identifier]))
        .default([])
        .describe('JSON paths such as `"$.email"` the app filters on, or column names of the model\'s generated view such as `"email"`; each gets an expression index (a column\'s is on the view\'s own expression, so filters on the view use it).'),
});

const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.');

export const configSchema = z
    .strictObject({
        $schema: z.string().optional().describe('Optional path of the JSON Schema, for editors.'),
        nango: nangoSchema,
        server: serverSchema,
        database: databaseSchema,
        sync: syncSchema,
        models: z
            .array(modelEntrySchema)
            .default([])
            .describe('Allow-list of `{providerConfigKey, model, variant?, view?, indexes?}`. Empty mirrors every model a webhook names; any entry restricts mirroring to the listed models.'),
        admin: z
            .strictObject({
                token: z.string().min(16, 'at least 16 characters').optional().describe('Bearer token for the admin API (`/admin/*`), at least 16 characters; unset turns the admin API off. When set, the status page and `/status.json` need it too (bearer, or the cookie `GET /login?token=…` sets).'),
            })
            .prefault({})
            .describe('The admin HTTP API.'),
        notify: z
            .strictObject({
                url: z.url({ protocol: /^https?$/ }).optional().describe('Where to POST a signed notice after each committed page (see [Notifications](#notifications)).'),
                signingKey: z.string().min(16, 'at least 16 characters').optional().describe('HMAC-SHA256 key for `X-Nango-Mirror-Hmac-Sha256`, at least 16 characters; required with `notify.url`.'),
                pgChannel: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase identifier').optional().describe("Postgres only: each page's transaction also `NOTIFY`s this channel with the page's notice (delivered at the commit; pages written together in one transaction send one)."),
                maxBacklog: z.number().int().min(1).default(10_000).describe('Unused since notices are read from the change log (nothing is dropped any more); accepted so that older configs still load.'),
                timeoutSeconds: z.number().positive().max(120).default(10).describe('Timeout of one notice POST.'),
            })
            .refine((n) => n.url === undefined || n.signingKey !== undefined, { message: 'notify.signingKey is required when notify.url is set', path: ['signingKey'] })
            .prefault({})
            .describe('Tell the app when rows changed: signed POSTs read from the change log, and/or a Postgres NOTIFY in each page transaction.'),
        changes: z
            .strictObject({
                enabled: z
                    .boolean()
                    .default(true)
                    .describe('Keep the change log (`nango_changes`): one row per record that really changed, written in the transaction that changed it; see [The change log](#nango_changes-the-change-log). `false` stops logging (written to the database at start-up; rows already logged stay until retention removes them).'),
                retentionHours: z.number().positive().default(168).describe('Changes older than this many hours are deleted (in batches of 5,000, every minute); readers further behind are told their offset is gone (`pruned_through`).'),
                maxRows: z.number().int().min(1).default(1_000_000).describe('The change log keeps at most this many rows: the oldest beyond it are deleted first, whatever their age.'),
            })
            .prefault({})
            .describe('The change log (`nango_changes`).'),
        logLevel: logLevelSchema,
    })
    .superRefine((c, ctx) => {
        if (c.notify.pgChannel !== undefined && !/^postgres(ql)?:/.test(c.database.url)) {
            ctx.addIssue({ code: 'custom', path: ['notify', 'pgChannel'], message: 'needs a Postgres database.url (SQLite has no NOTIFY); remove it or switch to Postgres' });
        }
    })
    .describe('nango-mirror configuration');

export type Config = z.output<typeof configSchema>;

/**
 * A config for a command that only touches one part of it (`migrate`, `backup`: `database`;
 * `healthcheck`: `server`): those parts are checked as strictly as `serve` checks them, the other
 * top-level keys are allowed and ignored, so a `migrate` job need not hold Nango's keys.
 */
function partialConfigSchema<S extends z.core.$ZodShape>(shape: S) {
    // Typed as nothing: the ignored keys are not read, and an index signature would hide `shape`'s types.
    const ignored = Object.fromEntries(Object.keys(configSchema.shape).filter((k) => !(k in shape)).map((k) => [k, z.unknown().optional()])) as Record<never, never>;
    return z.strictObject({ ...ignored, ...shape });
}

export const databaseConfigSchema = partialConfigSchema({ database: databaseSchema, logLevel: logLevelSchema });
export type DatabaseConfig = z.output<typeof databaseConfigSchema>;
export const serverConfigSchema = partialConfigSchema({ server: serverSchema, logLevel: logLevelSchema });
export type ServerConfig = z.output<typeof serverConfigSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ModelEntry = z.output<typeof modelEntrySchema>;
export type ViewColumnConfig = z.output<typeof viewSchema>['columns'][string];
