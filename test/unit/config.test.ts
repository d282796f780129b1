import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configJsonSchema } from '../../src/config/jsonSchema.js';
import { ConfigError, loadConfigFile, parseConfig, parseDatabaseConfig } from '../../src/config/load.js';

const minimal = { nango: { apiKey: 'k', webhookSigningKey: 's' } };

test('one error names every bad key and what is allowed', () => {
    let err: unknown;
    try {
        parseConfig({ nango: { apiKey: 'k', webhookSigningKey: 's', apikey: 'typo' }, sync: { pageSize: 20000, deletes: 'maybe' }, extra: true });
    } catch (e) {
        err = e;
    }
    assert.ok(err instanceof ConfigError);
    const message = err.message;
    assert.match(message, /nango\.apikey: unknown key; allowed here: host, apiKey, webhookSigningKey, acceptLegacySignature/);
    assert.match(message, /sync\.pageSize: .*10000/);
    assert.match(message, /sync\.deletes: .*soft.*hard/);
    assert.match(message, /extra: unknown key/);
});

test('required keys are named when missing', () => {
    assert.throws(() => parseConfig({ nango: {} }), (e: Error) => /nango\.apiKey/.test(e.message) && /nango\.webhookSigningKey/.test(e.message));
});

test('${NAME} is replaced from the environment; a missing variable is named', () => {
    const config = parseConfig({ nango: { apiKey: '${KEY}', webhookSigningKey: ['${S1}', 'x-${S2}'] } }, { KEY: 'k', S1: 'one', S2: 'two' });
    assert.equal(config.nango.apiKey, 'k');
    assert.deepEqual(config.nango.webhookSigningKey, ['one', 'x-two']);
    assert.throws(() => parseConfig({ nango: { apiKey: '${NOPE}', webhookSigningKey: 's' } }, {}), /NOPE \(used by nango\.apiKey\)/);
});

test('defaults match the issue: SQLite file, port 8080, pages of 1000, soft deletes', () => {
    const c = parseConfig(minimal);
    assert.equal(c.nango.host, 'https://api.nango.dev');
    assert.equal(c.nango.acceptLegacySignature, false);
    assert.deepEqual(c.server, { host: '0.0.0.0', port: 8080, webhookPath: '/webhooks/nango', maxBodyBytes: 10 * 1024 * 1024, adminHost: '127.0.0.1', adminPort: 9090 });
    assert.equal(c.database.url, 'sqlite:./data/mirror.db');
    assert.equal(c.sync.pageSize, 1000);
    assert.equal(c.sync.concurrency, 4);
    assert.equal(c.sync.reconcileIntervalSeconds, 900);
    assert.equal(c.sync.requestTimeoutSeconds, 30);
    assert.equal(c.sync.deletes, 'soft');
    assert.deepEqual(c.models, []);
});

test('$NANGO_MIRROR_DATABASE_URL gives database.url when the config has none; the config\'s own url wins', () => {
    const env = { NANGO_MIRROR_DATABASE_URL: 'sqlite:/data/mirror.db' };
    assert.equal(parseConfig(minimal, env).database.url, 'sqlite:/data/mirror.db');
    assert.equal(parseConfig({ ...minimal, database: { schema: 'mirror' } }, env).database.url, 'sqlite:/data/mirror.db');
    assert.equal(parseConfig({ ...minimal, database: { url: 'sqlite:./mine.db' } }, env).database.url, 'sqlite:./mine.db');
    assert.equal(parseConfig({ ...minimal, database: { url: '${DB}' } }, { ...env, DB: 'postgres://h/db' }).database.url, 'postgres://h/db');
    // Unset or empty: the built-in default.
    assert.equal(parseConfig(minimal, {}).database.url, 'sqlite:./data/mirror.db');
    assert.equal(parseConfig(minimal, { NANGO_MIRROR_DATABASE_URL: '' }).database.url, 'sqlite:./data/mirror.db');
    // A bad value is named like a bad key of the file.
    assert.throws(() => parseConfig(minimal, { NANGO_MIRROR_DATABASE_URL: 'mysql://x' }), /database\.url: sqlite:<path> or postgres/);
    assert.equal(parseDatabaseConfig({}, env).database.url, 'sqlite:/data/mirror.db');
});

test('the database-only config (migrate, backup) checks database.* and ignores Nango\'s keys', () => {
    const c = parseDatabaseConfig({ database: { url: 'sqlite:./x.db' } }, {});
    assert.deepEqual(c.database, { url: 'sqlite:./x.db', schema: 'public', walMaxMb: 256 });
    assert.equal(c.logLevel, 'info');
    assert.doesNotThrow(() => parseDatabaseConfig({ nango: { apikey: 'typo' }, sync: { pageSize: -1 }, database: {} }, {}));
    assert.throws(() => parseDatabaseConfig({ database: { url: 'sqlite:./x.db', shema: 'x' }, logLevel: 'loud' }, {}), (e: Error) => /database\.shema: unknown key; allowed here: url, schema/.test(e.message) && /logLevel/.test(e.message));
    assert.throws(() => parseDatabaseConfig({ databse: {} }, {}), /databse: unknown key/);
});

test('config.example.json lists every key with its default', () => {
    const example = JSON.parse(readFileSync('config.example.json', 'utf8')) as Record<string, unknown>;
    const env = { NANGO_SECRET_KEY: 'k', NANGO_WEBHOOK_SIGNING_KEY: 's' };
    const parsed = parseConfig(example, env);
    // Parsing adds nothing: every default is already written out, except database.url, left out so
    // that $NANGO_MIRROR_DATABASE_URL (the image's /data) applies to a config copied from the example.
    assert.equal((example['database'] as Record<string, unknown>)['url'], undefined);
    assert.equal(parsed.database.url, 'sqlite:./data/mirror.db');
    assert.equal(parseConfig(example, { ...env, NANGO_MIRROR_DATABASE_URL: 'sqlite:/data/mirror.db' }).database.url, 'sqlite:/data/mirror.db');
    assert.deepEqual(parsed, parseConfig(JSON.parse(JSON.stringify(parsed)), env));
    assert.deepEqual(JSON.parse(JSON.stringify(parsed)), {
        ...example,
        nango: { ...(example['nango'] as object), apiKey: 'k', webhookSigningKey: ['s'] },
        database: { url: 'sqlite:./data/mirror.db', ...(example['database'] as object) },
    });
});

test('config.schema.json is generated from the zod schema and up to date (npm run config:schema)', () => {
    const committed = JSON.parse(readFileSync('config.schema.json', 'utf8')) as unknown;
    assert.deepEqual(committed, configJsonSchema());
});

test('an unreadable or non-JSON file names the file and the fix', () => {
    assert.throws(() => loadConfigFile('/nonexistent/config.json'), /\/nonexistent\/config\.json.*--config/s);
});

test('view names, column names and JSON paths are identifiers only: no SQL through config', () => {
    const model = (view: unknown, indexes: unknown = []) => ({ ...minimal, models: [{ providerConfigKey: 'p', model: 'Contact', view, indexes }] });
    assert.doesNotThrow(() => parseConfig(model({ name: 'contacts', columns: { email: '$.email', city: { path: '$.address.city', type: 'text' }, t: '$.tags[0]' } }, ['$.email'])));
    for (const bad of [
        model({ name: 'x; DROP TABLE nango_records', columns: { a: '$.a' } }),
        model({ name: 'Contacts', columns: { a: '$.a' } }),
        model({ name: 'c', columns: { 'a"b': '$.a' } }),
        model({ name: 'c', columns: { a: "$.a') --" } }),
        model({ name: 'c', columns: { a: { path: '$.a', type: 'money' } } }),
        model({ name: 'c', columns: {} }),
        model(undefined, ["$.a'"]),
    ]) {
        assert.throws(() => parseConfig(bad), ConfigError, JSON.stringify(bad.models));
    }
    assert.throws(() => parseConfig({ ...minimal, database: { schema: 'public; drop' } }), /database\.schema/);
});
