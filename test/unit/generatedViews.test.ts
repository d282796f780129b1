import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { generatedViewSpecs, type GeneratedViewRequest, type SchemaSync } from '../../src/domain/generatedViews.js';
import { parseScriptsConfig } from '../../src/nango/discovery.js';
import { postgresViewSql } from '../../src/storage/postgres/views.js';
import { sqliteViewSql } from '../../src/storage/sqlite/views.js';
import { scriptsConfigFixtures } from '../helpers/scriptsConfigFixtures.js';

const ALL_FIXTURE_VIEWS: Array<[string, string, string, string]> = [
    // name, integration, model, sync
    ['nango_github_issue', 'github', 'Issue', 'issues'],
    ['nango_greenhouse_basic_greenhouse_application', 'greenhouse-basic', 'GreenhouseApplication', 'applications'],
    ['nango_hubspot_contact', 'hubspot', 'Contact', 'contacts'],
    ['nango_hubspot_deal', 'hubspot', 'Deal', 'deals'],
    ['nango_intercom_conversation', 'intercom', 'Conversation', 'conversations'],
    ['nango_linear_linear_issue', 'linear', 'LinearIssue', 'issues'],
    ['nango_zendesk_help_center_article', 'zendesk-help-center', 'Article', 'articles'],
];

test('every fixture through discovery gives one view per returned model, sorted by name, with its source', () => {
    const fixtures = scriptsConfigFixtures();
    const { views, untyped } = generatedViewSpecs(fixtures.flatMap((f) => f.requests));
    assert.deepEqual(untyped, []);
    assert.deepEqual(
        views.map((v) => [v.name, v.providerConfigKey, v.model, v.sync.name]),
        ALL_FIXTURE_VIEWS,
    );
    const raw = new Map(fixtures.flatMap((f) => (f.raw.syncs as any[]).map((s) => [`${f.raw.providerConfigKey}/${s.name}`, s])));
    for (const v of views) {
        const sync = raw.get(`${v.providerConfigKey}/${v.sync.name}`);
        assert.deepEqual(v.sync, { name: sync.name, id: sync.id, version: sync.version, lastDeployed: sync.last_deployed });
        assert.equal(v.allName, `${v.name}_all`);
        assert.equal(v.schemaOrigin, 'json_schema');
        assert.match(v.schemaVersion, /^[0-9a-f]{12}$/);
        assert.equal(v.variant, undefined, 'every variant of the model');
        for (const c of v.columns) assert.deepEqual(c.path, [c.property]);
    }
    const article = views.find((v) => v.model === 'Article')!;
    assert.deepEqual(article.columns.find((c) => c.property === 'user_segment_id'), { name: 'user_segment_id', path: ['user_segment_id'], type: 'integer', nullable: true, property: 'user_segment_id' });
});

test('discovery keeps what the views need from each sync, and reads a malformed one without failing', () => {
    const [entry] = scriptsConfigFixtures().filter((f) => f.file === 'github.json');
    const sync = entry!.entry.syncs[0]!;
    assert.equal(sync.id, 51877);
    assert.equal(sync.version, '3.0.1');
    assert.equal(sync.last_deployed, '2026-08-18T09:21:55.064Z');
    assert.deepEqual(sync.returns, ['Issue']);
    assert.deepEqual(Object.keys(sync.json_schema!['definitions'] as object), ['Issue', 'SyncMetadata_github_issues']);
    assert.deepEqual(sync.models, [{ name: 'Issue', fields: [] }, { name: 'SyncMetadata_github_issues', fields: [] }]);

    const body = JSON.stringify([
        {
            providerConfigKey: 'odd',
            syncs: [
                { name: 'a', returns: ['A'], id: 'x', version: null, last_deployed: 5, json_schema: 'garbage', models: 5 },
                { name: 'b', returns: ['B'], json_schema: { definitions: { B: 'nope' } }, models: [null, { name: 7 }, { name: 'B', fields: 'nope' }] },
                { name: 'c', returns: ['C'], json_schema: { definitions: { C: { type: 'object', properties: { x: { anyOf: 'nope' }, y: { $ref: 5 } } } } } },
            ],
        },
    ]);
    const [odd] = parseScriptsConfig(body);
    assert.deepEqual(odd!.syncs[0], { name: 'a', returns: ['A'], json_schema: null, models: [] });
    assert.deepEqual(odd!.syncs[1]!.models, [{ name: 'B', fields: [] }]);
    const requests = odd!.syncs.map((s) => ({ providerConfigKey: 'odd', model: s.returns[0]!, sync: s }));
    const { views, untyped } = generatedViewSpecs(requests);
    assert.deepEqual(untyped, [
        { providerConfigKey: 'odd', model: 'A', syncName: 'a' },
        { providerConfigKey: 'odd', model: 'B', syncName: 'b' },
    ]);
    assert.deepEqual(
        views.map((v) => v.columns.map((c) => `${c.name} ${c.type}${c.nullable ? '?' : ''}`)),
        [['x json?', 'y json?']],
    );
});

test('legacy deployments get views from their fields', () => {
    const sync: SchemaSync = { name: 'contacts', version: '1', json_schema: null, models: [{ name: 'Contact', fields: [{ name: 'id', type: 'string' }, { name: 'email', type: 'string | null' }, { name: 'created', type: 'Date' }] }] };
    const { views } = generatedViewSpecs([{ providerConfigKey: 'hubspot', model: 'Contact', sync }]);
    assert.equal(views[0]!.schemaOrigin, 'legacy_fields');
    assert.deepEqual(views[0]!.sync, { name: 'contacts', version: '1' });
    assert.deepEqual(
        views[0]!.columns.map((c) => [c.name, c.type, c.nullable]),
        [
            ['email', 'text', true],
            ['created', 'timestamp', false],
        ],
    );
});

test('untyped models take part in naming, so gaining a schema later renames nothing', () => {
    const typed: GeneratedViewRequest = {
        providerConfigKey: 'hubspot-eu',
        model: 'Contact',
        sync: { name: 'a', json_schema: { definitions: { Contact: { type: 'object', properties: { email: { type: 'string' } } } } } },
    };
    const untypedClash: GeneratedViewRequest = { providerConfigKey: 'hubspot', model: 'EuContact', sync: { name: 'b', json_schema: null } };
    const { views, untyped } = generatedViewSpecs([typed, untypedClash]);
    assert.equal(untyped.length, 1);
    assert.match(views[0]!.name, /^nango_hubspot_eu_contact__[0-9a-f]{8}$/);
    const later = generatedViewSpecs([typed, { ...untypedClash, sync: { ...untypedClash.sync, json_schema: { definitions: { EuContact: { type: 'object' } } } } }]);
    assert.ok(later.views.some((v) => v.name === views[0]!.name));
});

test('a model claimed by two syncs is read from the newest deploy, whatever the order', () => {
    const schema = (type: string) => ({ definitions: { Contact: { type: 'object', properties: { email: { type } } } } });
    const old: GeneratedViewRequest = { providerConfigKey: 'hubspot', model: 'Contact', sync: { name: 'a', id: 9, last_deployed: '2026-01-01T00:00:00.000Z', json_schema: schema('string') } };
    const recent: GeneratedViewRequest = { providerConfigKey: 'hubspot', model: 'Contact', sync: { name: 'b', id: 1, last_deployed: '2026-02-01T00:00:00.000Z', json_schema: schema('number') } };
    for (const order of [[old, recent], [recent, old]]) {
        const { views } = generatedViewSpecs(order);
        assert.equal(views.length, 1);
        assert.equal(views[0]!.sync.name, 'b');
        assert.equal(views[0]!.columns[0]!.type, 'real');
    }
    const sameTime = { ...recent, sync: { ...recent.sync, last_deployed: old.sync.last_deployed } };
    assert.equal(generatedViewSpecs([sameTime, old]).views[0]!.sync.name, 'a', 'then the highest id');
});

test('the prefix option names every view', () => {
    const { views } = generatedViewSpecs(scriptsConfigFixtures().flatMap((f) => f.requests), { prefix: 'app_' });
    assert.deepEqual(views.map((v) => v.name), ALL_FIXTURE_VIEWS.map(([name]) => name.replace(/^nango_/, 'app_')));
});

test("today's renderers draw a generated view as they draw a config view", () => {
    const { views } = generatedViewSpecs(scriptsConfigFixtures().flatMap((f) => f.requests));
    const article = views.find((v) => v.model === 'Article')!;
    const greenhouse = views.find((v) => v.model === 'GreenhouseApplication')!;
    assert.match(sqliteViewSql(article), /CAST\(json_extract\(data, '\$\.user_segment_id'\) AS INTEGER\) AS "user_segment_id"/);
    assert.match(postgresViewSql('public', greenhouse), /\(data #>> '\{applied_at\}'\)::timestamptz AS "applied_at"/);
    assert.match(postgresViewSql('public', article), /\(data #> '\{label_names\}'\) AS "label_names"/);

    // The SQL is valid over the mirror's table: every fixture view is created and read on SQLite.
    const db = new Database(':memory:');
    try {
        db.exec(
            'CREATE TABLE nango_records (provider_config_key TEXT, connection_id TEXT, model TEXT, variant TEXT, id TEXT, data TEXT, deleted_at TEXT, last_modified_at TEXT)',
        );
        db.prepare('INSERT INTO nango_records VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
            'zendesk-help-center', 'c1', 'Article', 'base', '42',
            JSON.stringify({ id: '42', author_id: 7, title: 'Hello', draft: false, label_names: ['a'] }),
            null, '2026-08-20T11:58:13.902000Z',
        );
        for (const v of views) db.exec(sqliteViewSql(v));
        const row = db.prepare(`SELECT id, author_id, title, draft, label_names, user_segment_id FROM "${article.name}"`).get();
        assert.deepEqual({ ...(row as object) }, { id: '42', author_id: 7, title: 'Hello', draft: 0, label_names: '["a"]', user_segment_id: null });
    } finally {
        db.close();
    }
});
