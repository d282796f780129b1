import { shortSha256 } from '../lib/stableHash.js';

/**
 * # Names of the generated typed views and of their columns
 *
 * Every name is a lowercase SQL identifier (`[a-z0-9_]`, never starting with a digit, at most 63
 * bytes: Postgres's limit, NAMEDATALEN − 1), made by one rule from Nango's names alone, so the
 * same Nango names give the same SQL names on every replica, on both engines, in every release.
 *
 * **Words** (`snakeCase`): accents are dropped (`é` → `e`); a CamelCase word boundary becomes `_`
 * (`GreenhouseApplication` → `greenhouse_application`, `firstName` → `first_name`); a run of
 * capitals is one word, and its last capital starts the next word when a lowercase letter
 * follows (`URLMapping` → `url_mapping`, `userID` → `user_id`, `HTMLToPDF` → `html_to_pdf`;
 * so `IDs` → `i_ds`, the price of a rule that never looks words up); a digit belongs to the word
 * before it (`Address2Line` → `address2_line`, `V2Contact` → `v2_contact`); everything is
 * lowercased; every run of characters outside `[a-z0-9]` becomes one `_`; leading and trailing
 * `_` are trimmed. A plain word therefore never contains `__`: the rule keeps `__` for the hash
 * suffix below, which is why a disambiguated name can never equal a plain one.
 *
 * **Views**: `<prefix><integration>_<model>` with both Nango names in words, e.g.
 * (`hubspot`, `Contact`) → `nango_hubspot_contact`, (`greenhouse-basic`, `GreenhouseApplication`)
 * → `nango_greenhouse_basic_greenhouse_application`. A name that would start with a digit (only
 * with an empty prefix) gets a leading `_`. Each view has a companion with the deleted rows too,
 * `<name>_all` ({@link ALL_ROWS_VIEW_SUFFIX}); a view name is at most 59 bytes so that the
 * companion fits in 63.
 *
 * **Prefix** (`sync.views.prefix`, default {@link DEFAULT_VIEW_PREFIX} `nango_`): the views live in
 * the app's database, on Postgres in `database.schema` (`public` by default), next to the app's
 * own tables; the prefix keeps `hubspot_contact` the app may already have out of the way, groups
 * the mirror's views in listings, and matches the mirror's own tables (`nango_records`). It is
 * written as is (include the separator): empty, or a lowercase identifier of at most 30 bytes
 * ({@link VIEW_PREFIX_PATTERN}).
 *
 * **Disambiguation** (`__` + the first 8 hex digits of sha256 of the Nango names): a view or a
 * column whose plain name cannot be used takes the form `<plain name cut to fit>__<hash>`, where
 * the hash is of its own Nango names only (`<integration>\0<model>` for a view, the property key
 * for a column). That happens when:
 * - its plain name is too long (a view over 59 bytes, a column over 63): cut, then hashed;
 * - it would clash: two (integration, model) pairs whose view names (or `_all` names) come out
 *   equal, e.g. (`hubspot-eu`, `Contact`) and (`hubspot`, `EuContact`); two properties of one
 *   model with the same column name, e.g. `firstName` and `first_name`. **Every** member of the
 *   clash is hashed, none keeps the plain name;
 * - a view name would take one of the mirror's own relation names (see
 *   {@link isReservedRelationName}), or a column name would be one of the view's own columns
 *   ({@link RESERVED_COLUMN_NAMES}; e.g. a property `variant` or `Deleted_At`);
 * - nothing is left after sanitizing (a property `"$"` becomes `field__<hash>`).
 *
 * **What the rule guarantees**:
 * - The names are a pure function of the prefix and of the *set* of (integration, model) pairs
 *   given (for columns, of the set of property keys): never of their order, nor of when a pair was
 *   first seen. Replicas and codegen that see the same pairs agree.
 * - A name always reads the same Nango data: a plain name stands for the only pair (property)
 *   that sanitizes to it, and a hashed name depends on its own pair (property) alone. A new model
 *   can rename an existing view only by clashing with it, and then the plain name disappears
 *   (the app's query fails loudly) rather than silently reading the other integration's records;
 *   both views move to their hashed names, which never change again. When the clash goes away
 *   (one of the two is no longer mirrored) the other gets its plain name back.
 * - Without such clashes, adding or removing other models or properties never renames anything.
 *
 * Pass every (integration, model) the mirror keeps, typed or not, so that a model that gains a
 * schema later does not shift names.
 *
 * **Columns** are the property names in words, as above (`firstName` → `first_name`): an app
 * writing SQL by hand wants unquoted lowercase names (Postgres folds unquoted identifiers to
 * lowercase, so a `firstName` column would need `"firstName"` in every query), and the
 * original key stays on the column (`property`) for code generation, which can name the drizzle
 * field after Nango's own property (`hubspotContact.firstName` reading column `first_name`).
 * The property `id` gets no column of its own: it is the record id, already the view's `id`.
 * A name that starts with a digit gets a leading `_` (`2fa` → `_2fa`).
 */

/** The default of `sync.views.prefix`; see the module comment for why. */
export const DEFAULT_VIEW_PREFIX = 'nango_';

/** What `sync.views.prefix` may be: empty, or a lowercase identifier of at most 30 bytes. */
export const VIEW_PREFIX_PATTERN = /^(?:[a-z_][a-z0-9_]{0,29})?$/;

/** Postgres truncates longer identifiers (NAMEDATALEN − 1); every generated name fits. */
export const MAX_IDENTIFIER_BYTES = 63;

/** The companion view over every row, deleted ones included (with `deleted_at`): `<name>_all`. */
export const ALL_ROWS_VIEW_SUFFIX = '_all';

/**
 * The generated view's own columns, which no property's column may take: the view reads
 * `connection_id, variant, id, <one column per property>, _last_modified_at, _first_seen_at`,
 * and its `_all` companion adds `deleted_at`.
 */
export const RESERVED_COLUMN_NAMES: readonly string[] = ['connection_id', 'variant', 'id', '_last_modified_at', '_first_seen_at', 'deleted_at'];

const HASH_SEPARATOR = '__';
const HASH_CHARS = 8;
/** Longer hashes, used only if two hashed names would still be equal (a 32-bit hash collision). */
const LONGER_HASH_CHARS = [16, 32];

/**
 * The mirror's own tables and indexes (`nango_records`, `nango_records_x_…`, `nango_sync_state…`,
 * `nango_mirror_views`, `nango_mirror_leases`, `nango_mirror_change_log`, `nango_connections`, `nango_changes`, Postgres's `…_pkey`), drizzle's migrations table
 * and SQLite's reserved `sqlite_` names. Tables, indexes and views share one namespace on both
 * engines, so a plain view name matching these is hashed. None of these names contains `__` after
 * its first character, so a hashed name (which does) never equals one.
 */
export function isReservedRelationName(name: string): boolean {
    return /^(nango_records|nango_sync_state|nango_mirror|nango_connections|nango_changes|sqlite_|__drizzle)/.test(name);
}

/** Nango's name in words: see the module comment. May return `''` (nothing alphanumeric). */
export function snakeCase(text: string): string {
    const withoutMarks = (s: string) => s.normalize('NFKD').replace(/\p{M}+/gu, '');
    const split = withoutMarks(text)
        .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2');
    return withoutMarks(split.toLowerCase())
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_+|_+$/g, '');
}

export function isValidViewPrefix(prefix: string): boolean {
    return VIEW_PREFIX_PATTERN.test(prefix) && !prefix.startsWith('sqlite_');
}

/** One (integration, model) the mirror keeps. */
export interface ViewNamePair {
    providerConfigKey: string;
    model: string;
}

export interface GeneratedViewName extends ViewNamePair {
    /** The view over the live rows. */
    name: string;
    /** Its companion over every row, deleted ones included: `<name>_all`. */
    allName: string;
    /** True when the hashed form is used (too long, clashing or reserved; see the module comment). */
    disambiguated: boolean;
}

/**
 * The view names of every (integration, model) the mirror keeps, in the order given; a pair given
 * twice gets the same name twice. Throws on a prefix {@link isValidViewPrefix} refuses (the config
 * validates it first).
 */
export function assignViewNames(pairs: readonly ViewNamePair[], prefix: string = DEFAULT_VIEW_PREFIX): GeneratedViewName[] {
    if (!isValidViewPrefix(prefix)) throw new Error(`sync.views.prefix: "${prefix}" is not empty or a lowercase identifier of at most 30 bytes (not starting with sqlite_).`);
    const maxBytes = MAX_IDENTIFIER_BYTES - ALL_ROWS_VIEW_SUFFIX.length;
    const distinct = new Map<string, ViewNamePair>();
    for (const p of pairs) distinct.set(JSON.stringify([p.providerConfigKey, p.model]), p);
    const candidates = [...distinct.values()].map((p): NameCandidate => {
        const integration = snakeCase(p.providerConfigKey);
        const base = noLeadingDigit(`${prefix}${integration}_${snakeCase(p.model)}`);
        const usable = integration !== '' && base.length <= maxBytes && !isReservedRelationName(base) && !isReservedRelationName(base + ALL_ROWS_VIEW_SUFFIX);
        return { plain: usable ? base : undefined, base, seed: `${p.providerConfigKey}\0${p.model}` };
    });
    const names = assignNames(candidates, maxBytes, (name) => [name, name + ALL_ROWS_VIEW_SUFFIX]);
    const byPair = new Map([...distinct.keys()].map((k, i) => [k, names[i]!]));
    return pairs.map((p) => {
        const n = byPair.get(JSON.stringify([p.providerConfigKey, p.model]))!;
        return { providerConfigKey: p.providerConfigKey, model: p.model, name: n.name, allName: n.name + ALL_ROWS_VIEW_SUFFIX, disambiguated: n.hashed };
    });
}

/**
 * The column names of one model's properties, in the order given (the keys must be distinct, as
 * in a JSON object, and must not include `id`, which has no column of its own).
 */
export function assignColumnNames(properties: readonly string[]): string[] {
    const candidates = properties.map((property): NameCandidate => {
        const words = snakeCase(property);
        const base = words === '' ? 'field' : noLeadingDigit(words);
        const usable = words !== '' && base.length <= MAX_IDENTIFIER_BYTES && !RESERVED_COLUMN_NAMES.includes(base);
        return { plain: usable ? base : undefined, base, seed: property };
    });
    return assignNames(candidates, MAX_IDENTIFIER_BYTES, (name) => [name]).map((n) => n.name);
}

function noLeadingDigit(name: string): string {
    return /^[0-9]/.test(name) ? `_${name}` : name;
}

interface NameCandidate {
    /** The plain name, or undefined when it cannot be used whatever the others are. */
    plain: string | undefined;
    /** What the hashed form starts with (cut to fit). */
    base: string;
    /** What the hash is of: the candidate's own Nango names. */
    seed: string;
}

/**
 * Plain names where no other candidate's footprint (the names it takes) overlaps, hashed names
 * for the rest. Order-independent: a candidate's fate depends on the set of footprints only.
 */
function assignNames(candidates: readonly NameCandidate[], maxBytes: number, footprint: (name: string) => string[]): Array<{ name: string; hashed: boolean }> {
    const owners = countFootprints(candidates.flatMap((c) => (c.plain === undefined ? [] : footprint(c.plain))));
    const out = candidates.map((c) =>
        c.plain !== undefined && footprint(c.plain).every((n) => owners.get(n) === 1) ? { name: c.plain, hashed: false } : { name: withHash(c, maxBytes, HASH_CHARS), hashed: true },
    );
    // Two hashed names can only be equal if their bases and 32-bit hashes are: lengthen just those.
    for (const hashChars of LONGER_HASH_CHARS) {
        const taken = countFootprints(out.flatMap((o) => footprint(o.name)));
        const clashing = out.flatMap((o, i) => (o.hashed && footprint(o.name).some((n) => taken.get(n)! > 1) ? [i] : []));
        if (clashing.length === 0) break;
        for (const i of clashing) out[i] = { name: withHash(candidates[i]!, maxBytes, hashChars), hashed: true };
    }
    return out;
}

function countFootprints(names: readonly string[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    return counts;
}

function withHash(c: NameCandidate, maxBytes: number, hashChars: number): string {
    const tail = HASH_SEPARATOR + shortSha256(c.seed, hashChars);
    return c.base.slice(0, maxBytes - tail.length).replace(/_+$/, '') + tail;
}
