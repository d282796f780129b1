import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { drizzleViewsModule } from '../../src/codegen/drizzleViews.js';
import { codegenCommand } from '../../src/commands/codegen.js';
import { generatedViewSpecs } from '../../src/domain/generatedViews.js';
import { toMicroIso } from '../../src/domain/timestamps.js';
import { testEngines, type EngineName } from '../helpers/engines.js';
import { writeConfig } from '../helpers/daemonProcess.js';
import { edgeViews } from '../helpers/generatedViews.js';
import { fakeKey, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';
import { scriptsConfigFixtures } from '../helpers/scriptsConfigFixtures.js';

// `nango-mirror codegen` against a real mirror with a view for every fixture of
// test/fixtures/scripts-config/ (issue 11, item 5): the module it writes compiles with
// `tsc --strict` as an app's code would import it, and a drizzle query through it returns the
// mirrored records, typed.

const execFileAsync = promisify(execFile);
const engines = await testEngines();
const fixtures = scriptsConfigFixtures();
const rawEntries = fixtures.map((f) => f.raw);
const fixtureModels = fixtures.flatMap((f) => f.requests.map((r) => ({ providerConfigKey: r.providerConfigKey, model: r.model })));
const expected = generatedViewSpecs(fixtures.flatMap((f) => f.requests)).views;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NODE_MODULES = realpathSync(join(REPO, 'node_modules'));

const contact = testKey('Contact', 'conn-hs', 'base', 'hubspot');
const article = testKey('Article', 'conn-zd', 'base', 'zendesk-help-center');
const application = testKey('GreenhouseApplication', 'conn-gh', 'base', 'greenhouse-basic');

/** The app's code: typed queries through the generated module (the ts-expect-error lines are type checks too). */
function queryModule(engine: EngineName): string {
    const connect =
        engine === 'sqlite'
            ? [
                  "import Database from 'better-sqlite3';",
                  "import { drizzle } from 'drizzle-orm/better-sqlite3';",
                  'const db = drizzle(new Database(process.env.MIRROR_DB!, { readonly: true }));',
                  'const close = async () => undefined;',
              ]
            : [
                  "import pg from 'pg';",
                  "import { drizzle } from 'drizzle-orm/node-postgres';",
                  'const pool = new pg.Pool({ connectionString: process.env.MIRROR_DB! });',
                  'const db = drizzle(pool);',
                  'const close = () => pool.end();',
              ];
    return `${connect.join('\n')}
import { asc, eq } from 'drizzle-orm';
import { nangoGreenhouseBasicGreenhouseApplication as applications, nangoHubspotContact as contacts, nangoZendeskHelpCenterArticle as articles, nangoZendeskHelpCenterArticleAll as allArticles, type NangoHubspotContact } from './mirror.js';

const contactRows: NangoHubspotContact[] = await db.select().from(contacts).where(eq(contacts.email, 'ada@x.example'));
const first: { id: string; firstName: string | null; connectionId: string; _lastModifiedAt: string } = contactRows[0]!;
// @ts-expect-error a typed column may be NULL
const email: string = contactRows[0]!.email;
// @ts-expect-error the field is Nango's property name, not the column's
void contactRows[0]!.first_name;

const articleRows = await db.select({ id: articles.id, title: articles.title, position: articles.position, draft: articles.draft, labels: articles.label_names }).from(articles).orderBy(asc(articles.id));
const typed: Array<{ id: string; title: string | null; position: number | null; draft: boolean | null; labels: unknown }> = articleRows;
const deleted: Array<{ id: string; _deletedAt: string | null }> = await db.select({ id: allArticles.id, _deletedAt: allArticles._deletedAt }).from(allArticles).orderBy(asc(allArticles.id));

const applicationRows = await db.select({ id: applications.id, prospect: applications.prospect, appliedAt: applications.applied_at, location: applications.location }).from(applications);
const appliedAt: string | null = applicationRows[0]!.appliedAt;

console.log(JSON.stringify({ first, email, typed, deleted, applicationRows, appliedAt }));
await close();
`;
}

/**
 * Modules of views with names that push the rules (quoted keys, fixed-field names, a view named
 * like an import), for every dialect: compiled with the rest.
 */
const EDGE_MODULES: Record<string, string> = {
    'edge-sqlite.ts': drizzleViewsModule(edgeViews(), { engine: 'sqlite' }),
    'edge-pg-public.ts': drizzleViewsModule(edgeViews(), { engine: 'postgres', schema: 'public' }),
    'edge-pg-schema.ts': drizzleViewsModule(edgeViews(), { engine: 'postgres', schema: 'mirror' }),
};

/** A throwaway app project: the module, the query, a strict tsconfig, and the repo's node_modules. */
function appProject(dir: string, engine: EngineName): void {
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(EDGE_MODULES)) writeFileSync(join(dir, file), text);
    symlinkSync(NODE_MODULES, join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
            compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: true, types: ['node'] },
            files: ['mirror.ts', 'query.ts', ...Object.keys(EDGE_MODULES)],
        }),
    );
    writeFileSync(join(dir, 'query.ts'), queryModule(engine));
}

async function tsc(dir: string): Promise<void> {
    try {
        await execFileAsync(process.execPath, [join(NODE_MODULES, 'typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json'), '--strict', '--noEmit'], { cwd: dir });
    } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        assert.fail(`tsc --strict refused the generated code:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
}

async function codegen(h: Harness, out?: string): Promise<string> {
    let text = '';
    const code = await codegenCommand(h.config, out === undefined ? {} : { out }, (t) => (text += t), () => undefined);
    assert.equal(code, 0);
    return out === undefined ? text : readFileSync(out, 'utf8');
}

for (const engine of engines) {
    describe(`[${engine}] nango-mirror codegen`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine, config: { sync: { views: { auto: true } }, models: fixtureModels } });
            h.fake.setScriptsConfig(rawEntries);
            await h.daemon.reconciler.runPass().catch(() => undefined);
            await waitFor(async () => (await h.daemon.store.schema.listGeneratedViews()).length === expected.length, 10_000, 'the generated views');
            for (const k of [contact, article, application]) h.fake.addConnection(k.providerConfigKey, k.connectionId);
            h.fake.save(fakeKey(contact), [
                { id: 'c1', firstName: 'Ada', lastName: 'Lovelace', email: 'ada@x.example' },
                { id: 'c2', firstName: 'Bob', email: 'bob@x.example' },
            ]);
            h.fake.save(fakeKey(article), [
                { id: 'a1', title: 'Hello', position: 3, draft: true, label_names: ['x', { y: [1] }] },
                { id: 'a2', title: 42, position: 'first', draft: 'no' },
                { id: 'a3', title: 'Gone' },
            ]);
            h.fake.save(fakeKey(application), [{ id: 'g1', prospect: false, applied_at: '2026-01-02T03:04:05.123456Z', location: { address: 'Paris' } }]);
            for (const k of [contact, article, application]) await h.sendSync(k);
            await h.waitIdle();
            h.fake.batchDelete(fakeKey(article), [{ id: 'a3' }]);
            await h.sendSync(article);
            await h.waitIdle();
        });
        after(() => h.close());

        test('the module has every view and its _all companion, compiles with tsc --strict, and a drizzle query through it returns the records typed', async () => {
            const dir = join(h.dir, 'app');
            appProject(dir, engine);
            const text = await codegen(h, join(dir, 'mirror.ts'));
            for (const v of expected) {
                assert.match(text, new RegExp(`\\(${JSON.stringify(`'${v.name}'`).slice(1, -1)}, `), v.name);
                assert.match(text, new RegExp(`\\('${v.allName}', `), v.allName);
            }
            assert.match(text, engine === 'sqlite' ? /from 'drizzle-orm\/sqlite-core'/ : /from 'drizzle-orm\/pg-core'/);
            if (engine === 'postgres') assert.match(text, new RegExp(`pgSchema\\('${h.config.database.schema}'\\)`), 'database.schema is honoured');
            await tsc(dir);

            const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'query.ts'], {
                cwd: dir,
                env: { ...process.env, MIRROR_DB: engine === 'sqlite' ? h.config.database.url.slice('sqlite:'.length) : h.config.database.url },
            });
            const got = JSON.parse(stdout);
            assert.equal(got.first.id, 'c1');
            assert.equal(got.first.firstName, 'Ada');
            assert.equal(got.first.connectionId, 'conn-hs');
            assert.equal(got.email, 'ada@x.example');
            assert.ok(!Number.isNaN(Date.parse(got.first._lastModifiedAt)));
            assert.deepEqual(got.typed, [
                { id: 'a1', title: 'Hello', position: 3, draft: true, labels: ['x', { y: [1] }] },
                { id: 'a2', title: null, position: null, draft: null, labels: null },
            ]);
            assert.deepEqual(
                got.deleted.map((r: any) => [r.id, r._deletedAt !== null]),
                [
                    ['a1', false],
                    ['a2', false],
                    ['a3', true],
                ],
            );
            assert.deepEqual(got.applicationRows.map((r: any) => ({ ...r, appliedAt: toMicroIso(r.appliedAt) })), [
                { id: 'g1', prospect: false, appliedAt: '2026-01-02T03:04:05.123456Z', location: { address: 'Paris' } },
            ]);
        });

        test('the same record gives the same bytes, from the CLI too; a changed schema changes the module accordingly', async () => {
            const once = await codegen(h);
            assert.equal(await codegen(h), once);
            const { nango, database } = h.config;
            const configPath = writeConfig(h.dir, { nango: { host: nango.host, apiKey: nango.apiKey, webhookSigningKey: nango.webhookSigningKey }, database });
            const cli = (...args: string[]) => execFileAsync(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli.ts'), 'codegen', '--config', configPath, ...args], { cwd: REPO });
            assert.equal((await cli()).stdout, once, '`nango-mirror codegen` prints the module');
            const outFile = join(h.dir, 'cli-out.ts');
            assert.match((await cli('--out', outFile)).stderr, new RegExp(`Wrote ${expected.length} view\\(s\\)`));
            assert.equal(readFileSync(outFile, 'utf8'), once, '--out writes the same bytes');
            assert.ok(!/\d{4}-\d{2}-\d{2}T/.test(once), 'no date in the file');

            const changed: any[] = structuredClone(rawEntries);
            const sync = changed.find((e) => e.providerConfigKey === 'hubspot').syncs.find((s: any) => s.returns.includes('Contact'));
            const props = sync.json_schema.definitions.Contact.properties;
            delete props.jobTitle;
            props.loyaltyPoints = { type: 'integer' };
            sync.version = '9.9.9';
            sync.last_deployed = '2030-01-01T00:00:00.000Z';
            h.fake.setScriptsConfig(changed);
            await h.daemon.reconciler.runPass();
            const next = await codegen(h);
            h.fake.setScriptsConfig(rawEntries);

            const block = (text: string) => text.slice(text.indexOf('/** hubspot / Contact: schema'), text.indexOf('export const nangoHubspotContact ='));
            assert.match(block(once), /jobTitle: text\('job_title'\)/);
            assert.doesNotMatch(block(next), /jobTitle/);
            assert.match(block(next), engine === 'sqlite' ? /loyaltyPoints: integer\('loyalty_points'\),/ : /loyaltyPoints: bigint\('loyalty_points', \{ mode: 'number' \}\),/);
            assert.match(block(next), /v9\.9\.9/);
            // Nothing else moved.
            const others = (text: string) => text.replace(block(text), '');
            assert.equal(others(next), others(once));
        });
    });
}
