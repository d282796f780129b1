import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordDataText } from '../../src/domain/recordRow.js';
import { NangoProtocolError } from '../../src/nango/errors.js';
import { scanRecordsPage } from '../../src/nango/scanRecordsPage.js';
import { fromColumns } from '../../src/sync/rowColumns.js';
import { toRecordRow, toRowColumns } from '../../src/sync/toRecordRows.js';
import { seededRandom, seedFromEnv, type SeededRandom } from '../helpers/seededRandom.js';
import { recordMetadata } from '../helpers/recordMetadata.js';

// The page worker scans `GET /records` bodies instead of parsing them (scanRecordsPage.ts), and keeps
// a record's payload as its own bytes. Pinned here against the parse it replaces: the same rows for
// every record, and the same verdict for every body.

const meta = recordMetadata;

/** What the worker hands over for `body`, with payloads as text. */
function scannedRows(body: string | Buffer) {
    const page = scanRecordsPage(Buffer.isBuffer(body) ? body : Buffer.from(body));
    return { page, rows: fromColumns(toRowColumns(page)).map((r) => ({ ...r, data: recordDataText(r.data) })) };
}

/** What parsing the body and converting each record gives, each NUL and unpaired surrogate made U+FFFD as the scanner does. */
function parsedRows(body: string) {
    return (JSON.parse(body) as { records: unknown[] }).records.map((r) => toRecordRow(storable(r)));
}

function storable(value: unknown): unknown {
    if (typeof value === 'string') return value.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
    if (Array.isArray(value)) return value.map(storable);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k) as string, storable(v)]));
    return value;
}

test('a record in Nango\'s shape keeps its payload\'s own bytes, metadata cut off; the rows equal the parsed ones', () => {
    const records = [
        { name: 'Zoë', id: 'a', nested: { _nango_metadata: 'not this one', list: [1, 2.5, -3e2, true, null] }, _nango_metadata: meta() },
        { id: 'b', '1': 'integer-like key', emoji: '😀', escaped: 'a"b\\c\n\u0001\u2028', _nango_metadata: meta({ last_action: 'ADDED' }) },
    ];
    const body = JSON.stringify({ next_cursor: 'Y3Vyc29y', records });
    const { page, rows } = scannedRows(body);
    assert.deepEqual(page.records.map((r) => r.slow), [false, false]);
    assert.equal(page.nextCursor, 'Y3Vyc29y');
    assert.deepEqual(rows, parsedRows(body));
    // Nango's own bytes, not a re-serialization.
    assert.equal(rows[0]!.data, '{"name":"Zoë","id":"a","nested":{"_nango_metadata":"not this one","list":[1,2.5,-300,true,null]}}');
});

test('an escaped NUL or unpaired surrogate becomes \\ufffd in place (jsonb refuses them); pairs, other escapes and an escaped backslash stay', () => {
    const m = JSON.stringify(meta());
    const payload = String.raw`"a":"x\u0000y","b":"\ud800x","c":"\udc00","d":"\ud83d\ude00","e":"\uD83D\uDE00","f":"\\u0000","g":"\ud800\ud800\udc00","h":"\ud800\u0041","k\u0000":1,"l":["\uDBFF"]`;
    const body = `{"records":[{${payload},"id":"i\\u0000","_nango_metadata":${m}}],"next_cursor":null}`;
    const { page, rows } = scannedRows(body);
    assert.deepEqual(page.records.map((r) => r.slow), [false]);
    assert.equal(rows[0]!.id, 'i\ufffd');
    assert.equal(
        rows[0]!.data,
        String.raw`{"a":"x\ufffdy","b":"\ufffdx","c":"\ufffd","d":"\ud83d\ude00","e":"\uD83D\uDE00","f":"\\u0000","g":"\ufffd\ud800\udc00","h":"\ufffd\u0041","k\ufffd":1,"l":["\ufffd"],"id":"i\ufffd"}`,
    );
    // What the stored text means: the same as the record's, each NUL and unpaired surrogate a U+FFFD.
    assert.deepEqual(JSON.parse(recordDataText(rows[0]!.data)), { a: 'x\ufffdy', b: '\ufffdx', c: '\ufffd', d: '😀', e: '😀', f: '\\u0000', g: '\ufffd\u{10000}', h: '\ufffdA', 'k\ufffd': 1, l: ['\ufffd'], id: 'i\ufffd' });
});

test('metadata is read where it lies when flat and plain, else parsed: every shape gives the row (or the error) a parse gives', () => {
    const ts = '2026-04-14T18:46:03.097459+00:00';
    /** [metadata JSON text, read where it lies] */
    const shapes: Array<[string, boolean]> = [
        [JSON.stringify(meta()), true],
        [JSON.stringify(meta({ last_action: 'ADDED', first_seen_at: ts, last_modified_at: ts })), true],
        [JSON.stringify(meta({ last_action: 'DELETED', deleted_at: ts })), true],
        [JSON.stringify(meta({ pruned_at: ts })), true],
        [`{ "cursor" : "c1" , "last_action":"ADDED","last_modified_at":"${ts}" }`, true],
        [`{"cursor":"c2","last_action":"UPDATED","last_modified_at":"${ts}","first_seen_at":null}`, true],
        [`{"cursor":"cé😀","last_action":"UPDATED","last_modified_at":"${ts}"}`, true],
        [`{"cursor":"","last_action":"UPDATED","last_modified_at":"${ts}"}`, true],
        // Parsed: an escape, another key, a repeated key, a value of another kind.
        [`{"cursor":"c\\u0041","last_action":"UPDATED","last_modified_at":"${ts}"}`, false],
        [`{"cursor":"c\\u0000","last_action":"UPDATED","last_modified_at":"${ts}"}`, false],
        [`{"cur\\u0073or":"c","last_action":"UPDATED","last_modified_at":"${ts}"}`, false],
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"${ts}","extra":{"a":[1]}}`, false],
        [`{"cursor":"a","cursor":"b","last_action":"UPDATED","last_modified_at":"${ts}"}`, false],
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"${ts}","pruned_at":false}`, false],
        // Errors, the same as a parse's.
        [`{"cursor":"c","last_action":"REMOVED","last_modified_at":"${ts}"}`, true],
        [`{"cursor":"c","last_action":"added","last_modified_at":"${ts}"}`, true],
        [`{"cursor":"c","last_action":"ADDEX","last_modified_at":"${ts}"}`, true],
        // Two bad times: the error names the one a parse names.
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"bad-lm","pruned_at":"bad-pruned"}`, true],
        [`{"cursor":"c","last_action":"DELETED","last_modified_at":"bad-lm","deleted_at":"bad-deleted"}`, true],
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"bad-lm","first_seen_at":"bad-first"}`, true],
        [`{"cursor":null,"last_action":"UPDATED","last_modified_at":"${ts}"}`, true],
        [`{"last_action":"UPDATED","last_modified_at":"${ts}"}`, true],
        [`{"cursor":"c","last_modified_at":"${ts}"}`, true],
        [`{"cursor":"c","last_action":"UPDATED"}`, true],
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"yesterday"}`, true],
        [`{"cursor":"c","last_action":"UPDATED","last_modified_at":"${ts}","deleted_at":"never"}`, true],
        ['{}', true],
        [`{"cursor":5,"last_action":"UPDATED","last_modified_at":"${ts}"}`, false],
        ['[]', false],
        ['"meta"', false],
    ];
    for (const [text, inPlace] of shapes) {
        for (const payload of ['"name":"x",', '']) {
            const body = `{"records":[{${payload}"id":"a","_nango_metadata":${text}}],"next_cursor":null}`;
            const page = scanRecordsPage(Buffer.from(body));
            assert.equal(page.records[0]!.slow, false, text);
            assert.equal(page.records[0]!.metaSpans !== null, inPlace, `read where it lies: ${text}`);
            let parsed: unknown;
            try {
                parsed = parsedRows(body);
            } catch (err) {
                assert.throws(() => scannedRows(body), (e: unknown) => e instanceof Error && e.message === (err as Error).message, text);
                continue;
            }
            assert.deepEqual(scannedRows(body).rows, parsed, text);
        }
    }
    // Records of one page that share timestamps, and one that differs between them.
    const records = [0, 1, 2, 3, 4, 5].map((i) => ({ id: `r${i}`, _nango_metadata: meta({ last_modified_at: i === 3 ? '2026-04-14T18:46:04+00:00' : ts, first_seen_at: i % 2 ? ts : null, cursor: `c${i}` }) }));
    const body = JSON.stringify({ records, next_cursor: null });
    assert.deepEqual(scannedRows(body).rows, parsedRows(body));
    // The next page holds other times at the same places: nothing is taken from the page before.
    const later = body.replaceAll('2026-04-14T18:46:0', '2026-04-15T18:46:0');
    assert.equal(later.length, body.length);
    assert.deepEqual(scannedRows(later).rows, parsedRows(later));
    // Times of the same length in one page that differ only in their last digit are told apart.
    const close = JSON.stringify({
        records: ['2026-04-14T18:46:03.097451+00:00', '2026-04-14T18:46:03.097452+00:00', '2026-04-14T18:46:03.097451+00:01'].map((t, i) => ({ id: `t${i}`, _nango_metadata: meta({ last_modified_at: t, first_seen_at: t }) })),
        next_cursor: null,
    });
    assert.deepEqual(scannedRows(close).rows, parsedRows(close));
});

test('pruned rows and id-only deletes keep the stored payload; the stand-in is {"id"}', () => {
    const body = JSON.stringify({
        records: [
            { id: 'p', _nango_metadata: meta({ pruned_at: '2026-05-14T00:00:00+00:00' }) },
            { id: 'd', _nango_metadata: meta({ last_action: 'DELETED', deleted_at: '2026-05-14T00:00:00+00:00' }) },
            { id: 'f', name: 'x', _nango_metadata: meta({ last_action: 'DELETED', deleted_at: '2026-05-14T00:00:00+00:00' }) },
        ],
        next_cursor: null,
    });
    const { rows } = scannedRows(body);
    assert.deepEqual(rows, parsedRows(body));
    assert.deepEqual(rows.map((r) => [r.keepData, r.data]), [[true, '{"id":"p"}'], [true, '{"id":"d"}'], [false, '{"id":"f","name":"x"}']]);
});

test('records of another shape are parsed on their own, with the same rows as before', () => {
    const records = [
        { id: 5, _nango_metadata: meta() }, // a number id: text in the row and in the payload
        { _nango_metadata: meta(), id: 'first' }, // metadata not last
        { id: 'e', name: 'x' }, // no metadata: refused below
    ];
    const body = JSON.stringify({ records: records.slice(0, 2), next_cursor: null });
    const { page, rows } = scannedRows(body);
    assert.deepEqual(page.records.map((r) => r.slow), [true, true]);
    assert.deepEqual(rows, parsedRows(body));
    assert.equal(rows[0]!.data, '{"id":"5"}');
    // Whitespace, escapes in keys, repeated keys: JSON.parse keeps the last value of a repeated key.
    const odd = ' { "next_cursor" : "x" , "records" : [ { "\\u0069d" : "é" , "v" : [ ] , "_nango_metadata" : ' + JSON.stringify(meta()) + ' } , {"id":"a","id":"b","_nango_metadata":' + JSON.stringify(meta()) + '} ] } ';
    const scanned = scannedRows(odd);
    assert.deepEqual(scanned.rows.map((r) => ({ ...r, data: JSON.parse(r.data) as unknown })), parsedRows(odd).map((r) => ({ ...r, data: JSON.parse(r.data) as unknown })));
    assert.deepEqual(scanned.page.records.map((r) => r.slow), [false, true]);
    assert.throws(() => scannedRows(JSON.stringify({ records: [records[2]], next_cursor: null })), /_nango_metadata/);
});

test('bodies JSON.parse refuses are refused as not JSON; JSON that is not a page, as not a page', () => {
    const notJson = [
        '', ' ', '{', '{"records":[],"next_cursor":null', '{"records":[],"next_cursor":null}x', '{"records":[1,],"next_cursor":null}',
        '{"records":["a\u0001"],"next_cursor":null}', '{"records":["a\n"],"next_cursor":null}', '{"records":[01],"next_cursor":null}',
        '{"records":[1.],"next_cursor":null}', '{"records":[.5],"next_cursor":null}', '{"records":[tru],"next_cursor":null}',
        '{"records":[nul],"next_cursor":null}', '{"records":[{"a" 1}],"next_cursor":null}', '{"records":["\\x"],"next_cursor":null}',
        '{"records":["\\u12g4"],"next_cursor":null}', '{"records":[{]],"next_cursor":null}', '{"records":[[}],"next_cursor":null}',
        '{"records":[],"next_cursor":null,}', '{,"records":[],"next_cursor":null}', '{"records":[-],"next_cursor":null}',
        '{"records":[1e],"next_cursor":null}', '{"records":[{"a":1,}],"next_cursor":null}', '{"records":[{"a":1}}],"next_cursor":null}',
        '{"records":["unterminated],"next_cursor":null}', '\ufeff{"records":[],"next_cursor":null}', '<html>502</html>',
        '{"records":[{"id":"a","_nango_metadata":{"cursor":"c"}]],"next_cursor":null}', '{"records":[+1],"next_cursor":null}',
    ];
    for (const body of notJson) {
        assert.throws(() => JSON.parse(body), SyntaxError, body);
        assert.throws(() => scanRecordsPage(Buffer.from(body)), (err: unknown) => err instanceof NangoProtocolError && /not JSON/.test(err.message), body);
    }
    const notAPage = ['[1]', '"x"', 'null', '{}', '{"records":[]}', '{"next_cursor":null}', '{"records":{},"next_cursor":null}', '{"records":[],"next_cursor":5}', '{"records":[],"next_cursor":null,"records":7}'];
    for (const body of notAPage) {
        JSON.parse(body);
        assert.throws(() => scanRecordsPage(Buffer.from(body)), (err: unknown) => err instanceof NangoProtocolError && /without `records`/.test(err.message), body);
    }
    // Deep nesting is walked without recursion, as JSON.parse does.
    const deep = `{"records":[{"id":"a","v":${'['.repeat(100_000)}${']'.repeat(100_000)},"_nango_metadata":${JSON.stringify(meta())}}],"next_cursor":null}`;
    assert.equal(scannedRows(deep).rows[0]!.id, 'a');
});

test('bytes that are not UTF-8 are read as text decoding reads them (U+FFFD), never stored as they are', () => {
    const body = Buffer.concat([Buffer.from('{"records":[{"id":"a","name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`","_nango_metadata":${JSON.stringify(meta())}}],"next_cursor":null}`)]);
    const { rows } = scannedRows(body);
    assert.deepEqual(rows, parsedRows(body.toString('utf8')));
    assert.equal((JSON.parse(rows[0]!.data) as { name: string }).name, '\ufffd(\ufffd');
});

/** A random JSON value: every kind, escapes and non-ASCII included. */
function randomValue(r: SeededRandom, depth: number): unknown {
    switch (r.int(depth > 3 ? 5 : 7)) {
        case 0:
            return null;
        case 1:
            return r.next() < 0.5;
        case 2:
            return r.pick([0, -1, 1.5, 1e21, -2.5e-7, 123456789012, 0.1]);
        case 3:
        case 4:
            return randomString(r);
        case 5:
            return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
        default:
            return Object.fromEntries(Array.from({ length: r.int(4) }, () => [randomString(r), randomValue(r, depth + 1)]));
    }
}

function randomString(r: SeededRandom): string {
    const alphabet = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', 'é', '€', '😀', '\u2028', 'id', '_nango_metadata', ',', ':', '{', '}', '[', ']'];
    return Array.from({ length: r.int(6) }, () => r.pick(alphabet)).join('');
}

test('strings are read four bytes at a time where aligned: a quote, an escape or a control character is found at every offset, in aligned and unaligned bodies', () => {
    /** `text` as a body whose first byte is at `offset` of its buffer (0 mod 4: read in words; otherwise byte by byte). */
    const at = (text: string, offset: number) => {
        const bytes = Buffer.from(text);
        const whole = Buffer.alloc(offset + bytes.length + 8, 0x41);
        bytes.copy(whole, offset);
        return whole.subarray(offset, offset + bytes.length);
    };
    for (let offset = 0; offset < 8; offset++) {
        for (let before = 0; before < 12; before++) {
            for (const [inner, ok] of [['\\"', true], ['\\\\', true], ['\\n', true], ['\\u00e9', true], ['é', true], ['\u0001', false], ['\n', false], ['\u001f', false]] as const) {
                const value = `${'x'.repeat(before)}${inner}${'y'.repeat(9)}`;
                const json = `"${value}"`;
                const body = `{"next_cursor":null,"records":[{"id":"a","s":${json},"_nango_metadata":${JSON.stringify(meta())}}]}`;
                const where = `offset ${offset}, ${before} bytes before ${JSON.stringify(inner)}`;
                if (ok) {
                    const page = scanRecordsPage(at(body, offset));
                    const row = fromColumns(toRowColumns(page))[0]!;
                    assert.deepEqual(JSON.parse(recordDataText(row.data)), { id: 'a', s: JSON.parse(json) }, where);
                } else {
                    assert.throws(() => JSON.parse(body), SyntaxError, where);
                    assert.throws(() => scanRecordsPage(at(body, offset)), (err: unknown) => err instanceof NangoProtocolError && /not JSON/.test(err.message), where);
                }
            }
        }
        // The body ends inside a string at every offset: refused, not read past its end.
        for (let cut = 1; cut < 9; cut++) {
            const body = `{"next_cursor":null,"records":["${'z'.repeat(cut)}`;
            assert.throws(() => scanRecordsPage(at(body, offset)), (err: unknown) => err instanceof NangoProtocolError && /not JSON/.test(err.message), `offset ${offset}, cut ${cut}`);
        }
    }
});

test('random records: the scanned rows equal the parsed ones (seeded; SCAN_SEED replays)', () => {
    const r = seededRandom(seedFromEnv('SCAN_SEED'));
    for (let round = 0; round < 200; round++) {
        const records = Array.from({ length: 1 + r.int(5) }, (_, i) => {
            const payload = randomValue(r, 3) as Record<string, unknown> | null;
            const id = r.next() < 0.9 ? `${randomString(r)}${i}` : i;
            const record: Record<string, unknown> = { ...(payload && typeof payload === 'object' && !Array.isArray(payload) ? payload : {}), id };
            const action = r.pick(['ADDED', 'UPDATED', 'DELETED'] as const);
            record['_nango_metadata'] = meta({ last_action: action, deleted_at: action === 'DELETED' ? '2026-05-14T00:00:00+00:00' : null, pruned_at: r.next() < 0.1 ? '2026-05-14T00:00:00+00:00' : null });
            return record;
        });
        const body = JSON.stringify(r.next() < 0.5 ? { next_cursor: null, records } : { records, next_cursor: 'Yw==' });
        // The text of a replaced escape differs (`\ufffd` kept as written, U+FFFD as JSON.stringify writes it): compared by meaning.
        const scanned = scannedRows(body).rows.map((row) => ({ ...row, data: JSON.stringify(JSON.parse(row.data)) }));
        assert.deepEqual(scanned, parsedRows(body), `seed ${r.seed}, round ${round}: ${body}`);
    }
});
