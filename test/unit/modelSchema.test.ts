import assert from 'node:assert/strict';
import { test } from 'node:test';
import { columnsFromJsonSchema, columnsFromLegacyFields, modelSchema, type ModelColumn, type SyncSchemaSource } from '../../src/domain/modelSchema.js';
import { scriptsConfigFixtures } from '../helpers/scriptsConfigFixtures.js';

/** `name type`, `?` when nullable, `(property)` when the column is named otherwise. */
function describe(columns: readonly ModelColumn[] | undefined): string[] | undefined {
    return columns?.map((c) => `${c.name}${c.name === c.property ? '' : `(${c.property})`} ${c.type}${c.nullable ? '?' : ''}`);
}

/** The columns of one property schema, as `describe` writes them. */
function one(schema: unknown, required = true): string | undefined {
    const columns = columnsFromJsonSchema({ type: 'object', properties: { p: schema }, required: required ? ['p'] : [] });
    assert.equal(columns?.length, 1);
    return describe(columns)![0];
}

// Every fixture file, every model of its syncs' `returns`: the exact columns. A new fixture file
// without an entry here fails the first test.
const EXPECTED: Record<string, Record<string, string[]>> = {
    'github.json': {
        // z.number() → real; the enum → text; plain strings (no z.date()) stay text; arrays of objects → json.
        Issue: [
            'node_id text', 'number real', 'state text', 'state_reason text?', 'title text', 'body text?', 'html_url text', 'repository_url text',
            'user_id real?', 'user_login text?', 'labels json?', 'assignee_id real?', 'assignee_login text?', 'assignees json?', 'milestone_id real?',
            'milestone_number real?', 'milestone_title text?', 'milestone_state text?', 'comments_count real?', 'locked boolean?', 'created_at text',
            'updated_at text', 'closed_at text?', 'closed_by_id real?', 'closed_by_login text?',
        ],
    },
    'greenhouse-basic.json': {
        // z.date() → {type: string, format: date-time} → timestamp; nested objects and arrays (of `{}` too) → json.
        GreenhouseApplication: [
            'candidate_id text', 'prospect boolean', 'applied_at timestamp', 'rejected_at timestamp', 'last_activity_at timestamp', 'location json',
            'source json', 'credited_to json', 'rejection_reason json', 'rejection_details json', 'jobs json', 'job_post_id text', 'status text',
            'current_stage json', 'answers json', 'prospective_office json', 'prospective_department json', 'prospect_detail json',
            'custom_fields json', 'keyed_custom_fields json', 'attachments json',
        ],
    },
    'hubspot.json': {
        // Every property optional → nullable; camelCase → snake_case.
        Contact: [
            'first_name(firstName) text?', 'last_name(lastName) text?', 'email text?', 'phone text?', 'job_title(jobTitle) text?', 'company text?',
            'created_at(createdAt) text?', 'updated_at(updatedAt) text?',
        ],
        Deal: [
            'name text?', 'amount real?', 'close_date(closeDate) text?', 'stage text?', 'owner_id(ownerId) text?', 'description text?',
            'company_ids(companyIds) json', 'contact_ids(contactIds) json', 'updated_at(updatedAt) text',
        ],
    },
    'intercom.json': {
        // anyOf [T, null] → T; passthrough objects and z.record → json.
        Conversation: [
            'title text?', 'state text?', 'created_at real?', 'updated_at real?', 'waiting_since real?', 'snoozed_until real?', 'open boolean?',
            'read boolean?', 'priority text?', 'admin_assignee_id real?', 'team_assignee_id real?', 'tags json?', 'source json?', 'contacts json?',
            'company json?', 'teammates json?', 'custom_attributes json?', 'conversation_rating json?', 'first_contact_reply json?',
            'sla_applied json?', 'statistics json?', 'linked_objects json?', 'ai_agent_participated boolean?', 'ai_agent json?',
        ],
    },
    'linear-2026-01.json': {
        // ts-json-schema-generator: every property required, nullable as type: [T, "null"].
        LinearIssue: [
            'assignee_id(assigneeId) text?', 'creator_id(creatorId) text?', 'created_at(createdAt) text', 'updated_at(updatedAt) text',
            'description text?', 'due_date(dueDate) text?', 'project_id(projectId) text?', 'team_id(teamId) text', 'title text', 'status text',
            'estimate text?',
        ],
    },
    'zendesk-help-center.json': {
        // .int() → integer (with ±2^53−1 bounds); anyOf [integer, null] → integer, nullable.
        Article: [
            'author_id integer?', 'body text?', 'comments_disabled boolean?', 'content_tag_ids json?', 'created_at text', 'draft boolean?',
            'edited_at text?', 'html_url text?', 'label_names json?', 'locale text', 'outdated boolean?', 'outdated_locales json?',
            'permission_group_id integer?', 'position integer?', 'promoted boolean?', 'section_id integer?', 'source_locale text?', 'title text',
            'updated_at text', 'url text', 'user_segment_id integer?', 'user_segment_ids json?', 'vote_count integer?', 'vote_sum integer?',
        ],
    },
};

test('every fixture model gets its exact columns, types and nullability, in property order, without `id`', () => {
    const fixtures = scriptsConfigFixtures();
    assert.deepEqual(fixtures.map((f) => f.file), Object.keys(EXPECTED).sort(), 'every fixture file has expectations');
    for (const { file, entry } of fixtures) {
        const models = entry.syncs.flatMap((s) => s.returns.map((model) => ({ model, sync: s })));
        assert.deepEqual(models.map((m) => m.model).sort(), Object.keys(EXPECTED[file]!).sort(), file);
        for (const { model, sync } of models) {
            const schema = modelSchema(sync, model);
            assert.equal(schema?.origin, 'json_schema', `${file} ${model}`);
            assert.deepEqual(describe(schema.columns), EXPECTED[file]![model], `${file} ${model}`);
            assert.match(schema.schemaVersion, /^[0-9a-f]{12}$/);
        }
    }
});

test('the metadata models are typed too (an object without properties has no columns)', () => {
    const byFile = new Map(scriptsConfigFixtures().map((f) => [f.file, f.entry.syncs[0]!]));
    assert.deepEqual(describe(modelSchema(byFile.get('linear-2026-01.json')!, 'SyncMetadata_linear_issues')?.columns), []);
    assert.deepEqual(describe(modelSchema(byFile.get('github.json')!, 'SyncMetadata_github_issues')?.columns), ['repositories json?']);
});

test("intercom's and zendesk's anyOf-with-null make a required property nullable; the others stay NOT NULL", () => {
    const byFile = new Map(scriptsConfigFixtures().map((f) => [f.file, f.raw]));
    const allRequired = (definition: any) => ({ ...definition, required: Object.keys(definition.properties) });
    const conversation = byFile.get('intercom.json').syncs[0].json_schema.definitions.Conversation;
    const c = describe(columnsFromJsonSchema(allRequired(conversation)))!;
    assert.ok(c.includes('title text?') && c.includes('waiting_since real?') && c.includes('tags json?') && c.includes('ai_agent json?'));
    assert.ok(c.includes('state text') && c.includes('created_at real') && c.includes('open boolean') && c.includes('custom_attributes json'));
    const article = byFile.get('zendesk-help-center.json').syncs[0].json_schema.definitions.Article;
    const a = describe(columnsFromJsonSchema(allRequired(article)))!;
    assert.ok(a.includes('user_segment_id integer?') && a.includes('author_id integer') && a.includes('vote_sum integer'));
});

test('scalar types, formats, enums and consts', () => {
    assert.equal(one({ type: 'string' }), 'p text');
    assert.equal(one({ type: 'string', format: 'date-time' }), 'p timestamp');
    assert.equal(one({ type: 'string', format: 'date-time', pattern: '^\\d{4}-…$' }), 'p timestamp', 'z.iso.datetime()');
    assert.equal(one({ type: 'string', format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), 'p text', 'a date is not an instant');
    assert.equal(one({ type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 }), 'p integer');
    assert.equal(one({ type: 'number' }), 'p real');
    assert.equal(one({ type: 'boolean' }), 'p boolean');
    assert.equal(one({ type: 'string', enum: ['open', 'closed'] }), 'p text');
    assert.equal(one({ enum: [1, 2, 3] }), 'p integer');
    assert.equal(one({ enum: [1, 2.5] }), 'p real');
    assert.equal(one({ enum: [true, false] }), 'p boolean');
    assert.equal(one({ enum: ['a', 1] }), 'p json');
    assert.equal(one({ type: 'string', const: 'x' }), 'p text');
    assert.equal(one({ type: 'number', const: 5 }), 'p integer');
});

test('objects, arrays, records, any-values and the unknown are json', () => {
    assert.equal(one({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false }), 'p json');
    assert.equal(one({ type: 'object', properties: {}, additionalProperties: {} }), 'p json', '.passthrough()');
    assert.equal(one({ type: 'object', propertyNames: { type: 'string' }, additionalProperties: { type: 'number' } }), 'p json', 'z.record');
    assert.equal(one({ type: 'array', items: { type: 'string' } }), 'p json');
    assert.equal(one({ items: { type: 'string' } }), 'p json', 'an array without `type`');
    // z.any(), z.unknown(), z.bigint() → {}: required, yet the value may be null.
    assert.equal(one({}), 'p json?');
    assert.equal(one(true), 'p json?');
    assert.equal(one({ description: 'anything' }), 'p json?');
    assert.equal(one({ anyOf: [{}, { not: {} }] }), 'p json?', "ts-json-schema-generator's any");
    assert.equal(one({ not: { type: 'string' } }), 'p json?');
    assert.equal(one({ type: 'mystery' }), 'p json');
    assert.equal(one('nonsense'), 'p json?');
});

test('nullable in every form: type array, anyOf/oneOf null, enum null, nullable: true, not required', () => {
    assert.equal(one({ type: ['string', 'null'] }), 'p text?');
    assert.equal(one({ type: ['null', 'integer'] }), 'p integer?');
    assert.equal(one({ anyOf: [{ type: 'number' }, { type: 'null' }] }), 'p real?');
    assert.equal(one({ oneOf: [{ type: 'null' }, { type: 'string', format: 'date-time' }] }), 'p timestamp?');
    assert.equal(one({ anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'null' }] }), 'p text?');
    assert.equal(one({ enum: ['a', null] }), 'p text?');
    assert.equal(one({ type: 'boolean', nullable: true }), 'p boolean?');
    assert.equal(one({ type: 'null' }), 'p json?');
    assert.equal(one({ type: 'string' }, false), 'p text?');
    assert.equal(one({ anyOf: [{ type: 'object', properties: {} }, { type: 'null' }] }), 'p json?');
});

test('unions collapse to one type only when they are one type (integer ⊂ number, date-time ⊂ string)', () => {
    assert.equal(one({ type: ['string', 'number'] }), 'p json');
    assert.equal(one({ anyOf: [{ type: 'string' }, { type: 'number' }] }), 'p json');
    assert.equal(one({ anyOf: [{ type: 'string' }, { type: 'object', properties: {} }, { type: 'null' }] }), 'p json?');
    assert.equal(one({ anyOf: [{ type: 'integer' }, { type: 'number' }] }), 'p real');
    assert.equal(one({ anyOf: [{ type: 'string', format: 'date-time' }, { type: 'string' }] }), 'p text');
    assert.equal(one({ anyOf: [{ type: 'string' }, { type: 'string', enum: ['x'] }, { type: 'null' }] }), 'p text?');
    assert.equal(one({ anyOf: [{ type: 'boolean' }, {}] }), 'p json?', 'any swallows the union');
    assert.equal(one({ allOf: [{ type: 'integer' }, { minimum: 0 }] }), 'p integer', 'a part admitting anything does not count');
    assert.equal(one({ allOf: [{ type: 'integer' }, { type: 'string' }] }), 'p json');
    assert.equal(one({ allOf: [{ type: ['string', 'null'] }, { type: 'string' }] }), 'p text', 'null only if every part admits it');
});

test('$ref: looked up in the model first, then in the document; a root $ref is followed', () => {
    const document = {
        definitions: {
            Model: {
                type: 'object',
                properties: {
                    local: { $ref: '#/definitions/Count' },
                    root: { $ref: '#/definitions/Email' },
                    address: { $ref: '#/definitions/Address' },
                    nullableRoot: { anyOf: [{ $ref: '#/definitions/Email' }, { type: 'null' }] },
                    missing: { $ref: '#/definitions/Nowhere' },
                    external: { $ref: 'https://example.com/schema.json' },
                    escaped: { $ref: '#/definitions/a~1b' },
                },
                required: ['local', 'root', 'address', 'nullableRoot', 'missing', 'external', 'escaped'],
                definitions: { Count: { type: 'integer' } },
            },
            Count: { type: 'string' },
            Email: { type: 'string' },
            Address: { type: 'object', properties: { city: { type: 'string' } } },
            'a/b': { type: 'boolean' },
            Alias: { $ref: '#/definitions/Real' },
            // A definition reached through a document $ref reads its own `definitions` (and `#`) first.
            Real: {
                type: 'object',
                properties: { n: { $ref: '#/definitions/__schema0' }, self: { $ref: '#' } },
                required: ['n', 'self'],
                definitions: { __schema0: { type: 'integer' } },
            },
            __schema0: { type: 'string' },
        },
    };
    assert.deepEqual(describe(columnsFromJsonSchema(document.definitions.Model, document)), [
        'local integer', 'root text', 'address json', 'nullable_root(nullableRoot) text?', 'missing json?', 'external json?', 'escaped boolean',
    ]);
    assert.deepEqual(describe(modelSchema({ json_schema: document }, 'Alias')?.columns), ['n integer', 'self json']);
});

// Produced by z.toJSONSchema (zod 4.6.7, target draft-7, as Nango's CLI calls it) for recursive models.
const RECURSIVE = {
    // z.object({ id, name, get children() { return z.array(Category) }, get parent() { return Category.nullable() } })
    Category: {
        type: 'object',
        properties: { id: { type: 'string' }, name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } }, parent: { anyOf: [{ $ref: '#' }, { type: 'null' }] } },
        required: ['id', 'name', 'children', 'parent'],
        additionalProperties: false,
    },
    // z.object({ id, get next() { return Node.optional() } })
    Node: { type: 'object', properties: { id: { type: 'string' }, next: { allOf: [{ $ref: '#' }] } }, required: ['id'], additionalProperties: false },
    // z.object({ id, tree: TreeNode, maybe: TreeNode.optional(), nul: TreeNode.nullable() }) with a recursive TreeNode
    Folder: {
        type: 'object',
        properties: {
            id: { type: 'string' },
            tree: { $ref: '#/definitions/__schema0' },
            maybe: { allOf: [{ $ref: '#/definitions/__schema0' }] },
            nul: { anyOf: [{ $ref: '#/definitions/__schema0' }, { type: 'null' }] },
        },
        required: ['id', 'tree', 'nul'],
        additionalProperties: false,
        definitions: {
            __schema0: {
                type: 'object',
                properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/definitions/__schema0' } } },
                required: ['name', 'children'],
                additionalProperties: false,
            },
        },
    },
    // The form protocol §6.2 describes: the model itself an allOf of one $ref into its own definitions.
    Tree: {
        allOf: [{ $ref: '#/definitions/__schema0' }],
        definitions: {
            __schema0: {
                type: 'object',
                properties: { label: { type: 'string' }, size: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/definitions/__schema0' } }, up: { $ref: '#/definitions/__schema0' } },
                required: ['label', 'kids', 'up'],
            },
        },
    },
    SelfOnly: { $ref: '#' },
};

test('recursive models: $ref and allOf-of-one-$ref are followed, recursion ends in a json column', () => {
    const json_schema = { definitions: RECURSIVE };
    const columns = (model: string) => describe(modelSchema({ json_schema }, model)?.columns);
    assert.deepEqual(columns('Category'), ['name text', 'children json', 'parent json?']);
    assert.deepEqual(columns('Node'), ['next json?']);
    assert.deepEqual(columns('Folder'), ['tree json', 'maybe json?', 'nul json?']);
    assert.deepEqual(columns('Tree'), ['label text', 'size integer?', 'kids json', 'up json']);
    assert.equal(modelSchema({ json_schema }, 'SelfOnly'), undefined, 'a model that is only a reference to itself is untyped');
});

test('a model that is a union of objects, or an allOf of objects', () => {
    const json_schema = {
        definitions: {
            Event: {
                anyOf: [
                    { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string', const: 'call' }, duration: { type: 'integer' } }, required: ['id', 'kind', 'duration'] },
                    { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string', const: 'email' }, subject: { type: 'string' } }, required: ['id', 'kind', 'subject'] },
                ],
            },
            Base: { type: 'object', properties: { id: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } }, required: ['id', 'createdAt'] },
            Extended: { allOf: [{ $ref: '#/definitions/Base' }, { type: 'object', properties: { score: { type: 'number' } } }] },
        },
    };
    assert.deepEqual(describe(modelSchema({ json_schema }, 'Event')?.columns), ['kind text', 'duration integer?', 'subject text?']);
    assert.deepEqual(describe(modelSchema({ json_schema }, 'Extended')?.columns), ['created_at(createdAt) timestamp', 'score real?']);
});

test('untyped: no json_schema, an empty one, a missing model or a definition that is not an object schema', () => {
    const typed = { definitions: { Contact: { type: 'object', properties: { email: { type: 'string' } } } } };
    assert.equal(modelSchema({ json_schema: null }, 'Contact'), undefined);
    assert.equal(modelSchema({}, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: {} }, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: { definitions: {} } }, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: typed }, 'Deal'), undefined);
    assert.equal(modelSchema({ json_schema: typed }, 'constructor'), undefined, 'no prototype lookups');
    assert.equal(modelSchema({ json_schema: { definitions: { Contact: {} } } }, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: { definitions: { Contact: { type: 'string' } } } }, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: { definitions: 'garbage' } }, 'Contact'), undefined);
    assert.equal(modelSchema({ json_schema: 'garbage' } as unknown as SyncSchemaSource, 'Contact'), undefined);
    // Today's deploys list the models with `fields: []`: names, not a schema.
    assert.equal(modelSchema({ json_schema: null, models: [{ name: 'Contact', fields: [] }] }, 'Contact'), undefined);
});

test('the property `id` is the record id: no column; `ID` or a reserved name gets a hashed column', () => {
    const columns = columnsFromJsonSchema({
        type: 'object',
        properties: { id: { type: 'string' }, ID: { type: 'string' }, variant: { type: 'string' }, connectionId: { type: 'string' }, deleted_at: { type: 'string' } },
        required: ['id'],
    })!;
    assert.deepEqual(
        columns.map((c) => c.property),
        ['ID', 'variant', 'connectionId', 'deleted_at'],
    );
    for (const c of columns) assert.match(c.name, /^(id|variant|connection_id|deleted_at)__[0-9a-f]{8}$/);
});

const LEGACY_NANGO_MODEL_FIELDS = [
    { name: 'id', value: 'string', tsType: true },
    { name: 'email', value: 'string', tsType: true },
    { name: 'age', value: 'number', tsType: true, optional: true },
    { name: 'count', value: 'integer', tsType: true },
    { name: 'active', value: 'boolean', tsType: true },
    { name: 'createdAt', value: 'Date', tsType: true },
    { name: 'tags', value: 'string', tsType: true, array: true },
    { name: 'address', value: 'Address', model: true },
    { name: 'nested', value: [{ name: 'a', value: 'string', tsType: true }] },
    { name: 'status', value: [{ name: '0', value: 'open' }, { name: '1', value: 'closed' }], union: true },
    { name: 'maybe', value: [{ name: '0', value: 'string', tsType: true }, { name: '1', value: null, tsType: true }], union: true },
    { name: 'mixed', value: [{ name: '0', value: 'string', tsType: true }, { name: '1', value: 'number', tsType: true }], union: true },
    { name: 'meta', value: 'Record<string, any>', tsType: true },
    { name: 'kind', value: 'contact' },
    { name: 'five', value: 5, tsType: true },
    { name: 'ratio', value: 0.5, tsType: true },
    { name: 'yes', value: true, tsType: true },
    { name: 'nothing', value: null, tsType: true },
    { name: 'note?', value: 'string', tsType: true },
    { name: '__string', value: 'string', dynamic: true },
];

test('legacy NangoModel fields map to the same column types', () => {
    assert.deepEqual(describe(columnsFromLegacyFields(LEGACY_NANGO_MODEL_FIELDS)), [
        'email text', 'age real?', 'count integer', 'active boolean', 'created_at(createdAt) timestamp', 'tags json', 'address json', 'nested json',
        'status text', 'maybe text?', 'mixed json', 'meta json', 'kind text', 'five integer', 'ratio real', 'yes boolean', 'nothing json?', 'note text?',
    ]);
});

test('legacy 2023 fields ({name, type}) map to the same column types', () => {
    // [field name, its TypeScript type, the column]
    const cases: Array<[string, string, string]> = [
        ['email', 'string', 'email text'],
        ['age', 'number | null', 'age real?'],
        ['nick?', 'string', 'nick text?'],
        ['created', 'Date', 'created timestamp'],
        ['tags', 'string[]', 'tags json'],
        ['list', '(string | null)[]', 'list json'],
        ['addr', 'Address', 'addr json'],
        ['state', "'open' | 'closed'", 'state text'],
        ['opt', 'boolean | undefined', 'opt boolean?'],
        ['rec', 'Record<string, string | number>', 'rec json'],
        ['n', 'integer', 'n integer'],
        ['either', 'string | number', 'either json'],
    ];
    const fields = [{ name: 'id', type: 'string' }, ...cases.map(([name, type]) => ({ name, type })), { name: 'weird', value: undefined, type: 5 }];
    assert.deepEqual(describe(columnsFromLegacyFields(fields)), [...cases.map(([, , column]) => column), 'weird json?']);
    // Some old rows nest the list one level deeper.
    assert.deepEqual(describe(columnsFromLegacyFields([[{ name: 'email', type: 'string' }]])), ['email text']);
});

test('legacy fields are used when json_schema has no usable definition for the model', () => {
    const models = [{ name: 'Contact', fields: [{ name: 'id', type: 'string' }, { name: 'email', type: 'string | null' }] }];
    for (const json_schema of [null, {}, { definitions: { Other: { type: 'object' } } }, { definitions: { Contact: {} } }]) {
        const schema = modelSchema({ json_schema, models }, 'Contact');
        assert.equal(schema?.origin, 'legacy_fields');
        assert.deepEqual(describe(schema.columns), ['email text?']);
    }
    // A usable definition wins over the fields.
    const both = modelSchema({ json_schema: { definitions: { Contact: { type: 'object', properties: { email: { type: 'string' } }, required: ['email'] } } }, models }, 'Contact');
    assert.equal(both?.origin, 'json_schema');
    assert.deepEqual(describe(both.columns), ['email text']);
});

/** The same JSON with every object's keys in reverse order. */
function reverseKeys(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(reverseKeys);
    if (typeof v !== 'object' || v === null) return v;
    return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]));
}

test('schemaVersion: the same model keeps it across re-deploys and key reorderings, for every fixture', () => {
    for (const { file, raw } of scriptsConfigFixtures()) {
        for (const sync of raw.syncs) {
            for (const model of sync.returns as string[]) {
                const version = modelSchema(sync, model)!.schemaVersion;
                const redeployed = { ...sync, id: sync.id + 1, version: '99.0.0', last_deployed: '2030-01-01T00:00:00.000Z' };
                assert.equal(modelSchema(redeployed, model)!.schemaVersion, version, `${file} ${model}: re-deploy`);
                assert.equal(modelSchema(reverseKeys(sync) as SyncSchemaSource, model)!.schemaVersion, version, `${file} ${model}: reordered keys`);
            }
        }
    }
});

test('schemaVersion: any real change to the model changes it; a change elsewhere does not', () => {
    const greenhouse = scriptsConfigFixtures().find((f) => f.file === 'greenhouse-basic.json')!.raw.syncs[0];
    const version = (edit: (definitions: any) => void) => {
        const sync = structuredClone(greenhouse);
        edit(sync.json_schema.definitions);
        return modelSchema(sync, 'GreenhouseApplication')!.schemaVersion;
    };
    const base = version(() => undefined);
    const changed = {
        added: version((d) => (d.GreenhouseApplication.properties.extra = { type: 'string' })),
        removed: version((d) => delete d.GreenhouseApplication.properties.status),
        retyped: version((d) => (d.GreenhouseApplication.properties.status = { type: 'number' })),
        madeOptional: version((d) => d.GreenhouseApplication.required.splice(d.GreenhouseApplication.required.indexOf('status'), 1)),
        deepInsideJson: version((d) => (d.GreenhouseApplication.properties.location.properties.address = { type: 'number' })),
        described: version((d) => (d.GreenhouseApplication.properties.status.description = 'now documented')),
    };
    for (const [what, v] of Object.entries(changed)) assert.notEqual(v, base, what);
    assert.equal(new Set(Object.values(changed)).size, Object.keys(changed).length, 'each change gives its own version');
    assert.equal(version((d) => (d.SyncMetadata_greenhouse_basic_applications.properties = { x: { type: 'string' } })), base, 'another model of the sync');
});

test('schemaVersion covers the definitions a model reaches through $ref, and only those', () => {
    const document = () => ({
        definitions: {
            Contact: { type: 'object', properties: { address: { $ref: '#/definitions/Address' } } },
            Address: { type: 'object', properties: { city: { $ref: '#/definitions/City' } } },
            City: { type: 'string' },
            Unrelated: { type: 'string' },
        },
    });
    const version = (edit: (d: any) => void) => {
        const json_schema = document();
        edit(json_schema.definitions);
        return modelSchema({ json_schema }, 'Contact')!.schemaVersion;
    };
    const base = version(() => undefined);
    assert.notEqual(version((d) => (d.Address.properties.zip = { type: 'string' })), base);
    assert.notEqual(version((d) => (d.City = { type: 'number' })), base, 'reached through two $refs');
    assert.equal(version((d) => (d.Unrelated = { type: 'number' })), base);
});

test('schemaVersion of legacy fields changes with the fields', () => {
    const sync = (fields: unknown[]): SyncSchemaSource => ({ json_schema: null, models: [{ name: 'Contact', fields }] });
    const a = modelSchema(sync([{ name: 'email', type: 'string' }]), 'Contact')!.schemaVersion;
    assert.equal(modelSchema(sync([{ type: 'string', name: 'email' }]), 'Contact')!.schemaVersion, a);
    assert.notEqual(modelSchema(sync([{ name: 'email', type: 'string | null' }]), 'Contact')!.schemaVersion, a);
    assert.notEqual(modelSchema(sync([{ name: 'email', type: 'string' }, { name: 'age', type: 'number' }]), 'Contact')!.schemaVersion, a);
});
