import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generatedViewSpecs } from '../../src/domain/generatedViews.js';
import { statusCommand } from '../../src/commands/status.js';
import { testEngines } from '../helpers/engines.js';
import { columnNames } from '../helpers/generatedViews.js';
import { fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';
import { scriptsConfigFixtures } from '../helpers/scriptsConfigFixtures.js';

// The daemon keeps one typed view per mirrored model from Nango's own schemas (issue 11), with every
// file of test/fixtures/scripts-config/ served as is by the fake Nango.

const engines = await testEngines();
const fixtures = scriptsConfigFixtures();
const rawEntries = fixtures.map((f) => f.raw);
/** Every (integration, model) the fixtures return: the allow-list, so each gets its view before any key exists. */
const fixtureModels = fixtures.flatMap((f) => f.requests.map((r) => ({ providerConfigKey: r.providerConfigKey, model: r.model })));
const expected = generatedViewSpecs(fixtures.flatMap((f) => f.requests)).views;

const POSTGRES_TYPE: Record<string, string> = { text: 'text', timestamp: 'timestamp with time zone', integer: 'bigint', real: 'double precision', boolean: 'boolean', json: 'jsonb' };

const VIEWS_ON = { sync: { views: { auto: true } } };

async function generatedNames(h: Harness): Promise<string[]> {
    return (await h.reader.all<{ name: string }>("SELECT name FROM nango_mirror_views WHERE kind = 'generated_view' ORDER BY name")).map((r) => r.name);
}

for (const engine of engines) {
    describe(`[${engine}] typed views from Nango's schemas`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { ...VIEWS_ON, models: fixtureModels }, daemon: { viewsRefreshIntervalMs: 50 } });
        });
        after(() => h.close());

        test('every fixture model gets its view at start-up, with the mapped column types', async () => {
            h.fake.setScriptsConfig(rawEntries);
            await h.daemon.reconciler.runPass().catch(() => undefined);
            await waitFor(async () => (await generatedNames(h)).length === expected.length, 10_000, 'the generated views');
            assert.deepEqual(await generatedNames(h), expected.map((v) => v.name));
            for (const v of expected) {
                assert.deepEqual(await columnNames(h.reader, engine, v.name), ['connection_id', 'variant', 'id', ...v.columns.map((c) => c.name), '_last_modified_at', '_first_seen_at'], v.name);
                assert.deepEqual((await columnNames(h.reader, engine, v.allName)).at(-1), 'deleted_at');
                if (engine === 'postgres') {
                    const types = await h.reader.all<{ name: string; type: string }>(
                        'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
                        v.name,
                    );
                    const byName = new Map(types.map((t) => [t.name, t.type]));
                    for (const c of v.columns) assert.equal(byName.get(c.name), POSTGRES_TYPE[c.type], `${v.name}.${c.name}`);
                }
            }
        });

        test('records read back typed through the view a webhook-driven pull fills; a value that does not fit reads NULL', async () => {
            const key = testKey('Article', 'conn-zd', 'base', 'zendesk-help-center');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [
                { id: 'a1', title: 'Hello', position: 3, created_at: '2026-01-02T03:04:05.123456Z', draft: true, label_names: ['x', { y: [1] }] },
                { id: 'a2', title: 42, position: 'first', created_at: 'yesterday', draft: 'no', label_names: 'none' },
            ]);
            await h.sendSync(key);
            await h.waitIdle();
            const rows = await h.reader.all<Record<string, unknown>>('SELECT id, title, position, created_at, draft, label_names FROM nango_zendesk_help_center_article ORDER BY id');
            const a1 = rows[0]!;
            assert.equal(a1['title'], 'Hello');
            assert.equal(a1['position'], 3);
            assert.equal(a1['created_at'], '2026-01-02T03:04:05.123456Z');
            assert.ok(a1['draft'] === true || a1['draft'] === 1);
            const labels = a1['label_names'];
            assert.deepEqual(typeof labels === 'string' ? JSON.parse(labels) : labels, ['x', { y: [1] }]);
            const a2 = rows[1]!;
            assert.deepEqual([a2['title'], a2['position'], a2['draft']], [null, null, null]);
            assert.equal(a2['created_at'], 'yesterday', 'this schema types created_at as a plain string: text');
        });

        test('a schema change (added, removed, retyped) replaces the view at the next reconcile pass; status shows the version', async () => {
            const before = (await h.daemon.store.schema.listGeneratedViews()).find((v) => v.name === 'nango_hubspot_contact')!;
            const changed: any[] = structuredClone(rawEntries);
            const contacts = changed.find((e) => e.providerConfigKey === 'hubspot').syncs.find((s: any) => s.returns.includes('Contact'));
            const props = contacts.json_schema.definitions.Contact.properties;
            const [first] = Object.keys(props).filter((k) => k !== 'id');
            delete props[first!];
            props.loyalty_points = { type: 'integer' };
            contacts.version = '9.9.9';
            contacts.last_deployed = '2030-01-01T00:00:00.000Z';
            h.fake.setScriptsConfig(changed);
            await h.daemon.reconciler.runPass();
            const after = (await h.daemon.store.schema.listGeneratedViews()).find((v) => v.name === 'nango_hubspot_contact')!;
            assert.notEqual(after.schemaVersion, before.schemaVersion);
            assert.equal(after.syncVersion, '9.9.9');
            const columns = await columnNames(h.reader, engine, 'nango_hubspot_contact');
            assert.ok(columns.includes('loyalty_points'));
            assert.ok(!columns.includes(first!.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)));

            const lines: string[] = [];
            await statusCommand(h.config, { json: false }, (l) => lines.push(l));
            const row = lines.find((l) => l.startsWith('nango_hubspot_contact '));
            assert.ok(row && row.includes(after.schemaVersion) && row.includes('9.9.9') && row.includes('Contact'), lines.join('\n'));
            const json: string[] = [];
            await statusCommand(h.config, { json: true, views: true }, (l) => json.push(l));
            const parsed = JSON.parse(json.join('\n'));
            assert.ok(parsed.views.some((v: any) => v.name === 'nango_hubspot_contact' && v.schemaVersion === after.schemaVersion && v.syncVersion === '9.9.9'));
            h.fake.setScriptsConfig(rawEntries);
        });
    });

    describe(`[${engine}] typed views: a webhook for a model never looked at`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: VIEWS_ON, daemon: { viewsRefreshIntervalMs: 50 } });
        });
        after(() => h.close());

        test('gets its view soon after, without a reconcile pass', async () => {
            h.fake.setScriptsConfig(rawEntries);
            const key = testKey('Contact', 'conn-new', 'base', 'hubspot');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [{ id: 'c1', email: 'c1@x.example' }]);
            const asked = () => h.fake.requests.filter((r) => r.path === '/scripts/config').length;
            await waitFor(() => asked() === 1, 10_000, 'the start-up read');
            await new Promise((r) => setTimeout(r, 100));
            const before = asked();
            await h.sendSync(key);
            await waitFor(async () => (await generatedNames(h)).includes('nango_hubspot_contact'), 10_000, 'the view');
            await h.waitIdle();
            assert.deepEqual(await h.reader.all('SELECT id, email FROM nango_hubspot_contact'), [{ id: 'c1', email: 'c1@x.example' }]);
            // Seen now: more webhooks for it ask Nango nothing.
            await h.sendSync(key);
            await h.waitIdle();
            await new Promise((r) => setTimeout(r, 200));
            assert.equal(asked() - before, 1);
        });
    });

    describe(`[${engine}] typed views: legacy fields, untyped models, config views, auto off`, () => {
        const legacy = {
            providerConfigKey: 'legacy-crm',
            provider: 'legacy-crm',
            syncs: [
                {
                    name: 'people',
                    returns: ['Person', 'Blob'],
                    version: '1',
                    json_schema: null,
                    models: [
                        { name: 'Person', fields: [{ name: 'id', type: 'string' }, { name: 'email', type: 'string | null' }, { name: 'age', type: 'number' }] },
                        { name: 'Blob', fields: [] },
                    ],
                },
            ],
        };
        const models = [
            { providerConfigKey: 'legacy-crm', model: 'Person', indexes: ['email'] },
            { providerConfigKey: 'legacy-crm', model: 'Blob' },
            { providerConfigKey: 'hubspot', model: 'Contact', view: { name: 'nango_hubspot_contact', columns: { mine: '$.email' } } },
        ];
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { ...VIEWS_ON, models } });
        });
        after(() => h.close());

        test('legacy models[].fields get a view; a model without a schema stays untyped and mirrored; the config view keeps its name', async () => {
            h.fake.setScriptsConfig([legacy, ...rawEntries]);
            await h.daemon.reconciler.runPass();
            assert.deepEqual(await generatedNames(h), ['nango_legacy_crm_person']);
            assert.deepEqual(await columnNames(h.reader, engine, 'nango_legacy_crm_person'), ['connection_id', 'variant', 'id', 'email', 'age', '_last_modified_at', '_first_seen_at']);
            assert.deepEqual(await columnNames(h.reader, engine, 'nango_hubspot_contact'), ['connection_id', 'id', 'mine', 'last_modified_at'], 'the config view wins');
            assert.ok(h.logs.some((l) => /config view .* has the name of a generated view/.test(l.msg)));
            const index = await h.reader.all<{ name: string }>("SELECT name FROM nango_mirror_views WHERE kind = 'generated_index'");
            assert.equal(index.length, 1, 'models[].indexes "email" resolved to the typed column');

            const blob = testKey('Blob', 'conn-b', 'base', 'legacy-crm');
            h.fake.addConnection(blob.providerConfigKey, blob.connectionId);
            h.fake.save(fakeKey(blob), [{ id: 'b1', anything: { at: 'all' } }]);
            await h.sendSync(blob);
            await h.waitIdle();
            assert.equal((await h.rows(blob)).length, 1, 'untyped: mirrored as always');
            await h.daemon.reconciler.runPass();
            assert.deepEqual(await generatedNames(h), ['nango_legacy_crm_person']);
        });

        test('sync.views.auto false makes none, and drops those made before', async () => {
            await h.restart({ sync: { views: { auto: false } } });
            h.fake.setScriptsConfig([legacy, ...rawEntries]);
            await h.daemon.reconciler.runPass();
            assert.deepEqual(await generatedNames(h), []);
            await assert.rejects(h.reader.all('SELECT * FROM nango_legacy_crm_person'));
        });
    });
}
