// `npm run demo`: the whole job end to end on the embedded defaults. Starts the Nango simulator
// (the fake Nango the tests use) and the daemon on a throwaway SQLite file, sends signed webhooks,
// and prints what landed, then queries a typed view generated from the models' JSON schemas
// through the drizzle module `nango-mirror codegen` writes. No network, no config file, under a minute.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { and, asc, inArray, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { codegenCommand } from '../src/commands/codegen.js';
import { nangoHubspotContact as contacts } from './demoViews.js';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/lib/logger.js';
import { startDaemon } from '../src/main.js';
import { FakeNango } from '../test/fakes/fakeNango.js';
import { assertMirrorExact, type MirrorRow } from '../test/helpers/harness.js';
import { postWebhook, syncSuccessBody } from '../test/fakes/webhooks.js';

const API_KEY = 'c0ffee00-0000-4000-8000-000000000001';
const SIGNING_KEY = 'c0ffee00-0000-4000-8000-000000000002';

interface Key {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
}

const step = (text: string) => console.log(`\n\x1b[1m▸ ${text}\x1b[0m`);

async function main(): Promise<void> {
    const started = Date.now();
    const dir = mkdtempSync(join(tmpdir(), 'nango-mirror-demo-'));
    const dbPath = join(dir, 'mirror.db');
    const nango = new FakeNango({ apiKey: API_KEY });
    const nangoUrl = await nango.start();

    const keys: Key[] = [
        { providerConfigKey: 'hubspot', connectionId: 'acme-corp', model: 'Contact', variant: 'base' },
        { providerConfigKey: 'hubspot', connectionId: 'acme-corp', model: 'Company', variant: 'base' },
        { providerConfigKey: 'salesforce', connectionId: 'globex', model: 'Deal', variant: 'base' },
        { providerConfigKey: 'salesforce', connectionId: 'globex', model: 'Deal', variant: 'eu' },
    ];
    step(`Nango simulator on ${nangoUrl}: ${keys.length} keys, 4,650 records (many sharing one microsecond timestamp)`);
    for (const k of keys) nango.addConnection(k.providerConfigKey, k.connectionId);
    nango.saveGenerated(keys[0]!, 2500, (i) => ({ id: `ct-${i}`, email: `person${i}@acme.example`, name: i === 7 ? 'Zoë Ångström 😀' : `Person ${i}` }));
    nango.saveGenerated(keys[1]!, 150, (i) => ({ id: i + 1, name: `Company ${i + 1}`, domain: `c${i + 1}.example` }));
    nango.saveGenerated(keys[2]!, 1800, (i) => ({ id: `deal-${i}`, amount: (i * 37) % 10_000, stage: i % 3 ? 'open' : 'won' }));
    nango.saveGenerated(keys[3]!, 200, (i) => ({ id: `eu-${i}`, amount: i, currency: 'EUR' }));
    // What Nango's `GET /scripts/config` says of the models (their zod schemas, as JSON Schema):
    // the daemon keeps a typed view per model from it.
    nango.setScriptsConfig(SCRIPTS_CONFIG);

    const config = parseConfig({
        nango: { host: nangoUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
        server: { host: '127.0.0.1', port: 0, adminPort: 0 },
        database: { url: `sqlite:${dbPath}` },
        sync: { reconcileIntervalSeconds: 0, pageSize: 1000 },
    });
    const daemon = await startDaemon(config, { logger: createLogger('error') });
    const webhookUrl = `${daemon.url}${config.server.webhookPath}`;
    step(`nango-mirror listening on ${webhookUrl}, mirroring into ${dbPath}`);

    step('A forged webhook (signed with the wrong key) is refused and writes nothing');
    const forged = await postWebhook(webhookUrl, syncSuccessBody(keys[0]!), 'not-the-signing-key');
    console.log(`  HTTP ${forged.status} ${JSON.stringify(forged.json)}`);

    step('Nango sends one signed sync webhook per key (and rate-limits us once, Retry-After: 0)');
    nango.rateLimit429(1, 0);
    for (const k of keys) {
        const res = await postWebhook(webhookUrl, syncSuccessBody(k), SIGNING_KEY);
        console.log(`  ${describe(k).padEnd(34)} HTTP ${res.status} ${JSON.stringify(res.json)}`);
    }
    await waitIdle(daemon.scheduler, dbPath);

    step('Changes in Nango: 2 updates, a batchDelete with only {id}, a new record; one more webhook');
    nango.save(keys[0]!, [{ id: 'ct-1', email: 'new@acme.example', name: 'Person 1 (renamed)' }, { id: 'ct-2500', email: 'late@acme.example', name: 'Newcomer' }]);
    nango.save(keys[0]!, [{ id: 'ct-3', email: 'person3@acme.example', name: 'Person 3 (edited)' }]);
    nango.batchDelete(keys[0]!, [{ id: 'ct-4' }]);
    await postWebhook(webhookUrl, syncSuccessBody(keys[0]!), SIGNING_KEY);
    await waitIdle(daemon.scheduler, dbPath);

    step('A lost webhook: Nango changed a Company but the webhook never came; a reconcile pass finds it');
    nango.save(keys[1]!, [{ id: 1, name: 'Company 1 (renamed)', domain: 'c1.example' }]);
    const found = await daemon.reconciler.runPass();
    console.log(`  reconcile found ${found} record(s) that no webhook announced`);

    step('What landed (nango_sync_state ⋈ nango_records)');
    const db = new Database(dbPath, { readonly: true });
    const rows = db
        .prepare(
            `SELECT s.provider_config_key || '/' || s.connection_id || '/' || s.model ||
                    CASE WHEN s.variant = 'base' THEN '' ELSE '::' || s.variant END AS key,
                    s.status, s.records_pulled_total AS pulled,
                    (SELECT count(*) FROM nango_records r WHERE r.provider_config_key = s.provider_config_key
                        AND r.connection_id = s.connection_id AND r.model = s.model AND r.variant = s.variant AND r.deleted_at IS NULL) AS live,
                    (SELECT count(*) FROM nango_records r WHERE r.provider_config_key = s.provider_config_key
                        AND r.connection_id = s.connection_id AND r.model = s.model AND r.variant = s.variant AND r.deleted_at IS NOT NULL) AS deleted,
                    (SELECT max(last_modified_at) FROM nango_records r WHERE r.provider_config_key = s.provider_config_key
                        AND r.connection_id = s.connection_id AND r.model = s.model AND r.variant = s.variant) AS newest
             FROM nango_sync_state s ORDER BY key`,
        )
        .all() as Array<Record<string, string | number>>;
    printTable(rows);

    step('Query it like any table:');
    const sql = `SELECT id, json_extract(data, '$.name') AS name, last_action, deleted_at FROM nango_records
  WHERE connection_id = 'acme-corp' AND model = 'Contact' AND id IN ('ct-1', 'ct-4', 'ct-7', 'ct-2500') ORDER BY id`;
    console.log(`  ${sql.replace(/\n/g, '\n  ')}`);
    printTable(db.prepare(sql).all() as Array<Record<string, string | number>>);
    db.close();

    step("The same, typed: a view per model from Nango's JSON schemas, and drizzle code for it from `nango-mirror codegen --out mirror.ts`");
    await waitForView(dbPath, 'nango_hubspot_contact');
    // scripts/demoViews.ts is the module codegen writes for this mirror, committed as an app would
    // commit it; the demo checks it is still what codegen writes (DEMO_WRITE_VIEWS=1 rewrites it).
    const modulePath = join(dir, 'mirror.ts');
    await codegenCommand(config, { out: modulePath }, () => undefined, () => undefined);
    const committedPath = new URL('./demoViews.ts', import.meta.url);
    if (process.env['DEMO_WRITE_VIEWS']) writeFileSync(committedPath, readFileSync(modulePath));
    if (readFileSync(modulePath, 'utf8') !== readFileSync(committedPath, 'utf8')) throw new Error('scripts/demoViews.ts is not what codegen writes now: run DEMO_WRITE_VIEWS=1 npm run demo.');
    console.log(`  $ nango-mirror codegen --out mirror.ts   # same bytes as scripts/demoViews.ts: ${(readFileSync(modulePath, 'utf8').match(/^export const \w+/gm) ?? []).map((l) => l.slice(13)).join(', ')}`);
    const typedDb = drizzle(new Database(dbPath, { readonly: true }));
    console.log("  db.select({ id, name, email, _lastModifiedAt }).from(nangoHubspotContact)\n    .where(and(eq(nangoHubspotContact.connectionId, 'acme-corp'), inArray(nangoHubspotContact.id, ['ct-1', 'ct-4', 'ct-7', 'ct-2500'])))");
    const typed = await typedDb
        .select({ id: contacts.id, name: contacts.name, email: contacts.email, _lastModifiedAt: contacts._lastModifiedAt })
        .from(contacts)
        .where(and(eq(contacts.connectionId, 'acme-corp'), inArray(contacts.id, ['ct-1', 'ct-4', 'ct-7', 'ct-2500'])))
        .orderBy(asc(contacts.id));
    console.log('  (SELECT id, name, email, _last_modified_at FROM nango_hubspot_contact WHERE …; ct-4 was deleted: only nango_hubspot_contact_all has it)');
    printTable(typed);
    typedDb.$client.close();

    // Check the claim instead of printing it: every key against the simulator, field by field.
    const verify = new Database(dbPath, { readonly: true });
    for (const k of keys) {
        const mirrorRows = verify
            .prepare('SELECT * FROM nango_records WHERE provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?')
            .all(k.providerConfigKey, k.connectionId, k.model, k.variant) as MirrorRow[];
        await assertMirrorExact({ fake: nango, rows: () => mirrorRows }, k);
    }
    verify.close();
    const total = rows.reduce((n, r) => n + Number(r['live']) + Number(r['deleted']), 0);
    await daemon.stop();
    await nango.stop();
    rmSync(dir, { recursive: true, force: true });
    step(`Done: ${total} records mirrored, checked field by field against the simulator, in ${((Date.now() - started) / 1000).toFixed(1)} s. Next: cp config.example.json config.json && npm start`);
}

/**
 * One `GET /scripts/config` element per integration, as Nango serves it (trimmed to what the
 * mirror reads): each sync's models as JSON Schema.
 */
const SCRIPTS_CONFIG = [
    {
        providerConfigKey: 'hubspot',
        provider: 'hubspot',
        syncs: [
            syncConfig('contacts', 'Contact', { id: { type: 'string' }, email: { type: 'string' }, name: { type: 'string' } }),
            syncConfig('companies', 'Company', { id: { type: 'integer' }, name: { type: 'string' }, domain: { type: 'string' } }),
        ],
    },
    {
        providerConfigKey: 'salesforce',
        provider: 'salesforce',
        syncs: [syncConfig('deals', 'Deal', { id: { type: 'string' }, amount: { type: 'integer' }, stage: { type: 'string', enum: ['open', 'won'] }, currency: { type: ['string', 'null'] } })],
    },
];

function syncConfig(name: string, model: string, properties: Record<string, unknown>) {
    return {
        name,
        type: 'sync',
        returns: [model],
        version: '1.0.0',
        enabled: true,
        last_deployed: '2026-01-01T00:00:00.000Z',
        json_schema: { definitions: { [model]: { type: 'object', properties, required: ['id'] } } },
    };
}

/** The daemon makes a model's view soon after its first webhook. */
async function waitForView(dbPath: string, name: string): Promise<void> {
    const db = new Database(dbPath, { readonly: true });
    try {
        for (let i = 0; i < 200; i++) {
            if (db.prepare("SELECT 1 FROM nango_mirror_views WHERE kind = 'generated_view' AND name = ?").get(name)) return;
            await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`The daemon made no view ${name} within 5 s.`);
    } finally {
        db.close();
    }
}

function describe(k: Key): string {
    return `${k.providerConfigKey}/${k.connectionId}/${k.model}${k.variant === 'base' ? '' : `::${k.variant}`}`;
}

async function waitIdle(scheduler: { activeCount: number }, dbPath: string): Promise<void> {
    const db = new Database(dbPath, { readonly: true });
    try {
        for (let i = 0; i < 600; i++) {
            const pending = db.prepare('SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq').get() as { n: number };
            if (scheduler.activeCount === 0 && pending.n === 0) return;
            await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('The daemon did not finish within 30 s.');
    } finally {
        db.close();
    }
}

function printTable(rows: Array<Record<string, string | number | null>>): void {
    if (rows.length === 0) return console.log('  (no rows)');
    const cols = Object.keys(rows[0]!);
    const cell = (v: string | number | null | undefined) => (v === null || v === undefined ? 'NULL' : String(v));
    const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => [...cell(r[c])].length)));
    const line = (vals: string[]) => `  ${vals.map((v, i) => v + ' '.repeat(widths[i]! - [...v].length)).join('  ')}`;
    console.log(line(cols));
    console.log(line(widths.map((w) => '─'.repeat(w))));
    for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
