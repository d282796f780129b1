import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, startHarness, testKey, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

const VIEW_CONFIG = {
    models: [
        {
            providerConfigKey: 'hubspot',
            model: 'Contact',
            view: {
                name: 'hubspot_contacts',
                columns: {
                    email: '$.email',
                    age: { path: '$.age', type: 'integer' },
                    score: { path: '$.score', type: 'real' },
                    active: { path: '$.active', type: 'boolean' },
                    born: { path: '$.born', type: 'timestamp' },
                    city: '$.address.city',
                    first_tag: '$.tags[0]',
                    tags: { path: '$.tags', type: 'json' },
                },
            },
            indexes: ['$.email'],
        },
        // models[] is also the allow-list: Company is mirrored, without a view.
        { providerConfigKey: 'hubspot', model: 'Company' },
    ],
};

interface ContactRow {
    connection_id: string;
    id: string;
    email: string;
    age: number;
    score: number;
    active: boolean | number;
    born: string;
    city: string;
    first_tag: string;
    tags: unknown;
    last_modified_at: string;
}

for (const engine of engines) {
    describe(`[${engine}] typed views and expression indexes from models[]`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: VIEW_CONFIG });
        });
        after(() => h.close());

        test('one typed row per live record of the model, other models and deleted records left out', async () => {
            const key = testKey('Contact', 'conn-view');
            h.fake.addConnection(key.providerConfigKey, key.connectionId);
            h.fake.save(fakeKey(key), [
                { id: 'a', email: 'a@x.example', age: 41, score: 2.5, active: true, born: '1985-04-01T10:00:00Z', address: { city: 'Lyon' }, tags: ['vip', 'eu'] },
                { id: 'b', email: "o'brien@x.example", age: 7, score: 0.25, active: false, born: '2019-01-01T00:00:00Z', address: { city: 'Zürich' }, tags: [] },
                { id: 'gone', email: 'gone@x.example' },
            ]);
            h.fake.trackDelete(fakeKey(key), ['gone']);
            const other = testKey('Company', 'conn-view');
            h.fake.save(fakeKey(other), [{ id: 'co', email: 'not-a-contact@x.example' }]);
            await h.sendSync(key);
            await h.sendSync(other);
            await h.waitIdle();

            assert.equal((await h.rows(other)).length, 1, 'the other model is mirrored');
            const rows = await h.reader.all<ContactRow>('SELECT * FROM hubspot_contacts ORDER BY id');
            assert.deepEqual(rows.map((r) => r.id), ['a', 'b']);
            const a = rows[0]!;
            assert.equal(a.connection_id, 'conn-view');
            assert.equal(a.email, 'a@x.example');
            assert.equal(Number(a.age), 41);
            assert.equal(typeof a.age === 'number' || typeof a.age === 'string', true);
            assert.equal(a.score, 2.5);
            assert.equal(a.active === true || a.active === 1, true);
            assert.equal(rows[1]!.active === false || rows[1]!.active === 0, true);
            assert.match(a.born, /^1985-04-01T10:00:00/);
            assert.equal(a.city, 'Lyon');
            assert.equal(rows[1]!.city, 'Zürich');
            assert.equal(a.first_tag, 'vip');
            assert.deepEqual(typeof a.tags === 'string' ? JSON.parse(a.tags) : a.tags, ['vip', 'eu']);
            assert.match(a.last_modified_at, /\.\d{6}Z$/);
            // Filters on a typed column work as SQL, with bound values.
            const found = await h.reader.all<ContactRow>('SELECT id FROM hubspot_contacts WHERE email = ?', "o'brien@x.example");
            assert.deepEqual(found.map((r) => r.id), ['b']);
        });

        test('the expression index exists, and a changed config drops the old view and creates the new one', async () => {
            const indexQuery =
                engine === 'sqlite'
                    ? "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'nango_records_x_%'"
                    : "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'nango_records_x_%'";
            assert.equal((await h.reader.all(indexQuery)).length, 1);

            const renamed = structuredClone(VIEW_CONFIG) as { models: Array<Record<string, unknown>> };
            renamed.models[0]!['view'] = { name: 'contacts_v2', columns: { email: '$.email' } };
            renamed.models[0]!['indexes'] = [];
            await h.restart(renamed);
            const v2 = await h.reader.all<{ id: string; email: string }>('SELECT * FROM contacts_v2 ORDER BY id');
            assert.deepEqual(v2.map((r) => Object.keys(r).sort()), [
                ['connection_id', 'email', 'id', 'last_modified_at'],
                ['connection_id', 'email', 'id', 'last_modified_at'],
            ]);
            await assert.rejects(h.reader.all('SELECT * FROM hubspot_contacts'), /hubspot_contacts/);
            assert.equal((await h.reader.all(indexQuery)).length, 0);
        });
    });
}
