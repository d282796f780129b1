import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
    assignColumnNames,
    assignViewNames,
    DEFAULT_VIEW_PREFIX,
    isReservedRelationName,
    isValidViewPrefix,
    RESERVED_COLUMN_NAMES,
    snakeCase,
    type ViewNamePair,
} from '../../src/domain/generatedViewNames.js';
import { seededRandom } from '../helpers/seededRandom.js';

const HASHED = /__[0-9a-f]{8}$/;
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const names = (pairs: ViewNamePair[], prefix?: string) => assignViewNames(pairs, prefix).map((n) => n.name);

test('words: CamelCase split, acronyms, digits, accents, punctuation', () => {
    const cases: Array<[string, string]> = [
        ['GreenhouseApplication', 'greenhouse_application'],
        ['firstName', 'first_name'],
        ['first_name', 'first_name'],
        ['URLMapping', 'url_mapping'],
        ['userID', 'user_id'],
        ['HTMLToPDF', 'html_to_pdf'],
        ['getHTTPResponseCode', 'get_http_response_code'],
        ['IDs', 'i_ds'],
        ['Address2Line', 'address2_line'],
        ['V2Contact', 'v2_contact'],
        ['line1', 'line1'],
        ['hubspot-eu', 'hubspot_eu'],
        ['zendesk-help-center', 'zendesk_help_center'],
        ['my.integration@v2', 'my_integration_v2'],
        ['Prénom', 'prenom'],
        ['  __a--b__  ', 'a_b'],
        ['snake__case', 'snake_case'],
        ['$', ''],
        ['名前', ''],
    ];
    for (const [input, expected] of cases) assert.equal(snakeCase(input), expected, input);
});

test('view names: <prefix><integration>_<model>, with the default prefix nango_', () => {
    assert.equal(DEFAULT_VIEW_PREFIX, 'nango_');
    const got = assignViewNames([
        { providerConfigKey: 'hubspot', model: 'Contact' },
        { providerConfigKey: 'greenhouse-basic', model: 'GreenhouseApplication' },
        { providerConfigKey: 'zendesk-help-center', model: 'Article' },
        { providerConfigKey: 'linear', model: 'LinearIssue' },
    ]);
    assert.deepEqual(
        got.map((n) => [n.name, n.allName, n.disambiguated]),
        [
            ['nango_hubspot_contact', 'nango_hubspot_contact_all', false],
            ['nango_greenhouse_basic_greenhouse_application', 'nango_greenhouse_basic_greenhouse_application_all', false],
            ['nango_zendesk_help_center_article', 'nango_zendesk_help_center_article_all', false],
            ['nango_linear_linear_issue', 'nango_linear_linear_issue_all', false],
        ],
    );
    assert.deepEqual(names([{ providerConfigKey: 'hubspot', model: 'Contact' }], 'app_'), ['app_hubspot_contact']);
    assert.deepEqual(names([{ providerConfigKey: 'hubspot', model: 'Contact' }], ''), ['hubspot_contact']);
    assert.deepEqual(names([{ providerConfigKey: '1password', model: 'Item' }], ''), ['_1password_item'], 'never a leading digit');
});

test('the prefix is empty or a lowercase identifier of at most 30 bytes', () => {
    for (const ok of ['', 'nango_', 'app', '_x', 'a'.repeat(30)]) assert.ok(isValidViewPrefix(ok), ok);
    for (const bad of ['Nango_', 'a-b', '1x', 'a'.repeat(31), 'sqlite_', 'é']) {
        assert.ok(!isValidViewPrefix(bad), bad);
        assert.throws(() => assignViewNames([{ providerConfigKey: 'a', model: 'B' }], bad), /sync\.views\.prefix/);
    }
});

test('long names are cut and hashed deterministically; the _all companion still fits in 63 bytes', () => {
    const long = { providerConfigKey: 'a-very-long-integration-key-used-in-production', model: 'ExtraordinarilyLongModelNameForTesting' };
    const [n] = assignViewNames([long]);
    assert.ok(n!.disambiguated);
    assert.match(n!.name, HASHED);
    assert.ok(n!.name.length <= 59 && n!.allName.length <= 63, n!.name);
    assert.ok(n!.name.startsWith('nango_a_very_long_integration_key_used_in_product'));
    assert.equal(assignViewNames([long])[0]!.name, n!.name);
    // Two long names that only differ past the cut stay distinct.
    const other = { ...long, model: 'ExtraordinarilyLongModelNameForTestingToo' };
    const both = names([long, other]);
    assert.notEqual(both[0], both[1]);
    assert.equal(both[0], n!.name, 'its name depends on nothing else');
    // 59 bytes fit as they are; 60 do not.
    const exactly = (bytes: number) => ({ providerConfigKey: 'x', model: 'M'.padEnd(bytes - 'nango_x_'.length, 'z') });
    assert.equal(names([exactly(59)])[0]!.length, 59);
    assert.doesNotMatch(names([exactly(59)])[0]!, HASHED);
    assert.match(names([exactly(60)])[0]!, HASHED);
});

test('pairs that sanitize alike are all hashed, whatever their order; a hashed name depends on its own pair only', () => {
    const a = { providerConfigKey: 'hubspot-eu', model: 'Contact' };
    const b = { providerConfigKey: 'hubspot', model: 'EuContact' };
    const c = { providerConfigKey: 'hubspot_eu', model: 'Contact' };
    const unrelated = { providerConfigKey: 'github', model: 'Issue' };
    assert.deepEqual(names([a]), ['nango_hubspot_eu_contact']);
    const ab = names([a, b, unrelated]);
    assert.match(ab[0]!, /^nango_hubspot_eu_contact__[0-9a-f]{8}$/);
    assert.match(ab[1]!, /^nango_hubspot_eu_contact__[0-9a-f]{8}$/);
    assert.notEqual(ab[0], ab[1]);
    assert.equal(ab[2], 'nango_github_issue', 'a pair outside the clash keeps its plain name');
    assert.deepEqual(names([unrelated, b, a]), [ab[2], ab[1], ab[0]], 'order does not matter');
    const ac = names([a, c]);
    assert.equal(ac[0], ab[0], 'the same hashed name whatever it clashes with');
    assert.deepEqual(names([a, b, c]).slice(0, 2), ab.slice(0, 2));
});

test('a view name that is another view’s _all name clashes too', () => {
    const got = assignViewNames([
        { providerConfigKey: 'hubspot', model: 'Contact' },
        { providerConfigKey: 'hubspot', model: 'ContactAll' },
        { providerConfigKey: 'hubspot', model: 'Deal' },
    ]);
    assert.ok(got[0]!.disambiguated && got[1]!.disambiguated && !got[2]!.disambiguated);
    const all = got.flatMap((n) => [n.name, n.allName]);
    assert.equal(new Set(all).size, all.length);
});

test("a plain name never takes one of the mirror's own relation names", () => {
    for (const name of ['nango_records', 'nango_records_x_0123456789ab', 'nango_sync_state', 'nango_sync_state_due', 'nango_mirror_views', 'nango_mirror_leases', 'nango_connections', 'nango_changes', 'nango_mirror_change_log', 'sqlite_master', '__drizzle_migrations']) {
        assert.ok(isReservedRelationName(name), name);
    }
    const got = assignViewNames([
        { providerConfigKey: 'sync', model: 'State' },
        { providerConfigKey: 'mirror', model: 'Views' },
        { providerConfigKey: 'records', model: 'X_0123456789ab' },
    ]);
    for (const n of got) {
        assert.ok(n.disambiguated, n.name);
        assert.match(n.name, HASHED);
    }
    assert.match(names([{ providerConfigKey: 'sqlite', model: 'Master' }], '')[0]!, HASHED);
    assert.ok(!isReservedRelationName('nango_hubspot_contact'));
});

test('the same pair twice gets the same name twice', () => {
    const pair = { providerConfigKey: 'hubspot', model: 'Contact' };
    assert.deepEqual(names([pair, { ...pair }]), ['nango_hubspot_contact', 'nango_hubspot_contact']);
});

test('names stay valid, unique and order-independent over many clashing pairs', () => {
    const random = seededRandom(11);
    const integrations = ['hubspot', 'hubspot-eu', 'hubspot_eu', 'HubSpot', 'Hub-Spot', 'eu', 'a'.repeat(40), 'sync', 'mirror', '1x', '~'];
    const models = ['Contact', 'EuContact', 'Eu_Contact', 'ContactAll', 'Contact_All', 'HubspotEuContact', 'State', 'Views', 'X', 'Y' + 'z'.repeat(55)];
    const pairs: ViewNamePair[] = [];
    for (const providerConfigKey of integrations) for (const model of models) if (random.next() < 0.7) pairs.push({ providerConfigKey, model });
    for (const prefix of ['nango_', '', 'p_']) {
        const got = assignViewNames(pairs, prefix);
        const all = got.flatMap((n) => [n.name, n.allName]);
        assert.equal(new Set(all).size, all.length, 'unique, _all names included');
        for (const n of got) {
            assert.match(n.name, IDENTIFIER);
            assert.ok(n.name.startsWith(prefix) || n.name.startsWith('_'), n.name);
            assert.ok(n.allName.length <= 63 && n.allName === `${n.name}_all`, n.allName);
            assert.ok(!(!n.disambiguated && isReservedRelationName(n.name)), n.name);
        }
        const shuffled = [...pairs].sort(() => random.next() - 0.5);
        const byPair = new Map(got.map((n) => [JSON.stringify([n.providerConfigKey, n.model]), n.name]));
        for (const n of assignViewNames(shuffled, prefix)) assert.equal(n.name, byPair.get(JSON.stringify([n.providerConfigKey, n.model])));
    }
});

test('column names: snake_case, unique, order-independent, never reserved, at most 63 bytes', () => {
    assert.deepEqual(assignColumnNames(['firstName', 'email', 'createdAt', '2fa', 'due-date']), ['first_name', 'email', 'created_at', '_2fa', 'due_date']);
    const clash = assignColumnNames(['firstName', 'first_name', 'email']);
    assert.match(clash[0]!, /^first_name__[0-9a-f]{8}$/);
    assert.match(clash[1]!, /^first_name__[0-9a-f]{8}$/);
    assert.notEqual(clash[0], clash[1]);
    assert.equal(clash[2], 'email');
    assert.deepEqual(assignColumnNames(['email', 'first_name', 'firstName']), [clash[2], clash[1], clash[0]]);
    for (const reserved of ['connection_id', 'connectionId', 'variant', 'Variant', 'ID', 'deleted_at', 'deletedAt']) {
        const [name] = assignColumnNames([reserved]);
        assert.match(name!, HASHED, reserved);
        assert.ok(!RESERVED_COLUMN_NAMES.includes(name!));
    }
    // `_first_seen_at` loses its leading `_`, so it cannot shadow the view's own column.
    assert.deepEqual(assignColumnNames(['_first_seen_at', '_last_modified_at']), ['first_seen_at', 'last_modified_at']);
    const [symbol, accented] = assignColumnNames(['$', 'prénom']);
    assert.match(symbol!, /^field__[0-9a-f]{8}$/);
    assert.equal(accented, 'prenom');
    const [long] = assignColumnNames(['x'.repeat(80)]);
    assert.ok(long!.length <= 63);
    assert.match(long!, HASHED);
    assert.deepEqual(assignColumnNames(['a'.repeat(63)]), ['a'.repeat(63)]);
});
