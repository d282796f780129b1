// `npm run demo`: the whole job end to end on the embedded defaults. Starts the Nango simulator
// (the fake Nango the tests use) and the daemon on a throwaway SQLite file, sends signed webhooks,
// and prints what landed. No network, no config file, under a minute.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

    const config = parseConfig({
        nango: { host: nangoUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
        server: { host: '127.0.0.1', port: 0 },
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
