import { isUtf8 } from 'node:buffer';
import { NangoProtocolError } from './errors.js';

/**
 * Where each record of a `GET /records` body lies in its bytes, found in one pass that checks the
 * whole body against JSON's grammar without building the records as objects.
 *
 * Nango renders a record as `{...payload, id: externalId, _nango_metadata: {…}}` (protocol §4.2):
 * the payload's own keys, `id` always a string, the metadata last. The mirror stores the payload
 * without the metadata, so for such a record the stored JSON is the record's own bytes up to the
 * comma before `"_nango_metadata"`, with that comma made a `}`: the payload is neither parsed nor
 * serialized again, and its bytes go to the database as they came. Parsing every page into objects
 * and serializing each payload again cost the page worker more CPU than the main thread's commits,
 * most of it collecting the garbage made in between (README: Ingest).
 *
 * The bytes change in one way: an escaped NUL or unpaired surrogate becomes `\ufffd` (replaceUnit).
 *
 * Text that `JSON.parse` refuses is refused here too, with the error a parse gave. A record of any
 * other shape (metadata not last, an `id` that is not a string, a repeated `id` or metadata key) is
 * marked `slow`, and the caller parses that record alone as before.
 */
export interface ScannedPage {
    /** The body, valid UTF-8 (a body that is not is decoded as text decodes it, U+FFFD for what is invalid). */
    bytes: Buffer;
    nextCursor: string | null;
    /** One entry per record, in page order. */
    records: ScannedRecord[];
}

export interface ScannedRecord {
    /** The record is `bytes[start, end)`. */
    start: number;
    end: number;
    /** True: parse the record and build its row from the object. */
    slow: boolean;
    /** Fast records: the comma before the metadata key, so the payload is `bytes[start, payloadEnd)` and `}`. */
    payloadEnd: number;
    /** Fast records: the metadata object is `bytes[metaStart, end - 1)` (whitespace around it allowed). */
    metaStart: number;
    /** Fast records: the string id, decoded. */
    id: string;
    /** The number of the record's top-level keys (`id` and the metadata included). */
    keys: number;
    /**
     * Fast records whose metadata is a flat object of Nango's own keys with plain values: where
     * each value lies, from `META_SPAN[field]` = s, `[spans[s], spans[s + 1])` the string's text
     * between its quotes (no escapes), both −1 for `null`, both −2 for a key that is absent. Null
     * otherwise (any other key, a repeated key, an escape, a value of another kind): the metadata is parsed.
     */
    metaSpans: number[] | null;
}

/** The metadata keys whose values `metaSpans` locates, in its order. */
const META_FIELDS = ['first_seen_at', 'last_modified_at', 'last_action', 'deleted_at', 'pruned_at', 'cursor'] as const;
const META_KEY_BYTES = META_FIELDS.map((name) => Buffer.from(name));
/** Where each metadata field's span starts in `metaSpans`. */
export const META_SPAN = Object.fromEntries(META_FIELDS.map((name, f) => [name, 2 * f])) as Record<(typeof META_FIELDS)[number], number>;

const NOT_JSON = 'GET /records answered 2xx with a body that is not JSON.';
const NOT_A_PAGE = 'GET /records answered 2xx without `records` and `next_cursor`.';

// The scanner's state, one body at a time. It reads bytes: JSON's syntax is ASCII, and every byte of
// a multi-byte UTF-8 character is 0x80 or more. Past the end `b[p]` is undefined, which compares
// false with everything: each check below then fails or stops as at any other wrong byte.
const EMPTY = Buffer.alloc(0);
const NO_WORDS = new Uint32Array(0);
let b: Buffer = EMPTY;
/** The body as 4-byte words (`words[k]` is `b[4k, 4k + 4)`), or empty when the body is not 4-byte aligned. */
let words: Uint32Array = NO_WORDS;
let p = 0;

function fail(): never {
    throw new NangoProtocolError(NOT_JSON);
}

// The hot loops below work on local copies of `b` and `p` (a module variable is read from and
// written to memory at every step; a local stays in a register): 1.9 → x ms a page of 1 MB.

function skipWhitespace(): void {
    const buf = b;
    let i = p;
    for (;;) {
        const c = buf[i]!;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
        else break;
    }
    p = i;
}

/** From the opening quote at `p` to past the closing one; true when the string has an escape. */
function skipString(): boolean {
    const buf = b;
    const w = words;
    let i = p;
    let escaped = false;
    /** Where the hex digits of a low surrogate paired with the escape before it start. */
    let pairedLow = -1;
    for (;;) {
        // Four bytes at a time where the next one starts a word: a word without a control
        // character, a quote or a backslash is skipped whole (each test below is exact for "some
        // byte of x is": below 0x20, equal to 0x22, equal to 0x5c; bytes of 0x80 and over never match).
        if (((i + 1) & 3) === 0) {
            const x = w[(i + 1) >> 2];
            if (x !== undefined) {
                const q = x ^ 0x22222222;
                const s = x ^ 0x5c5c5c5c;
                if (((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) === 0) {
                    i += 4;
                    continue;
                }
            }
        }
        const c = buf[++i]!;
        // Most bytes: plain characters (and every byte of a multi-byte character).
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
        if (c === 0x22) break;
        // A raw control character, or the end of the body inside a string.
        if (c !== 0x5c) fail();
        escaped = true;
        const e = buf[++i]!;
        if (e === 0x75) {
            const at = i + 1;
            let unit = 0;
            for (let k = 0; k < 4; k++) {
                const h = buf[++i]!;
                if (h >= 0x30 && h <= 0x39) unit = unit * 16 + h - 0x30;
                else if (h >= 0x41 && h <= 0x46) unit = unit * 16 + h - 0x37;
                else if (h >= 0x61 && h <= 0x66) unit = unit * 16 + h - 0x57;
                else fail();
            }
            if (unit === 0 || (unit >= 0xd800 && unit <= 0xdfff)) {
                if (unit >= 0xdc00 && at === pairedLow) continue;
                if (unit >= 0xd800 && unit <= 0xdbff && buf[i + 1] === 0x5c && buf[i + 2] === 0x75 && isLowSurrogateHex(buf, i + 3)) pairedLow = i + 3;
                else replaceUnit(buf, at);
            }
        } else if (!(e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
            fail();
        }
    }
    p = i + 1;
    return escaped;
}

/** `buf[at, at + 4)` are hex digits of a low surrogate, DC00–DFFF (the digits after the first two are checked when they are read). */
function isLowSurrogateHex(buf: Buffer, at: number): boolean {
    const d = buf[at]!;
    const x = buf[at + 1]!;
    return (d === 0x64 || d === 0x44) && ((x >= 0x63 && x <= 0x66) || (x >= 0x43 && x <= 0x46));
}

/**
 * A `\u0000` or an unpaired surrogate (`\ud800` alone) becomes `\ufffd`, in place (the same four
 * bytes): Postgres's jsonb refuses both ("\u0000 cannot be converted to text", "Unicode low
 * surrogate must follow a high surrogate"), so a record holding one failed its page on every retry
 * and stopped the key. SQLite could keep them; the engines store the same text. U+FFFD is what text
 * decoding puts for bytes that are not UTF-8 (scanRecordsPage below), and what `toWellFormed` puts
 * for an unpaired surrogate.
 */
function replaceUnit(buf: Buffer, at: number): void {
    buf[at] = 0x66;
    buf[at + 1] = 0x66;
    buf[at + 2] = 0x66;
    buf[at + 3] = 0x64;
}

/** The string at `p`, decoded, and `p` past it. */
function readString(): string {
    const from = p;
    const escaped = skipString();
    return escaped ? (JSON.parse(b.toString('utf8', from, p)) as string) : b.toString('utf8', from + 1, p - 1);
}

function skipDigits(): number {
    const buf = b;
    const from = p;
    let i = p;
    for (;;) {
        const c = buf[i]!;
        if (c >= 0x30 && c <= 0x39) i++;
        else break;
    }
    p = i;
    return i - from;
}

function skipNumber(): void {
    if (b[p]! === 0x2d) p++;
    const first = b[p]!;
    if (first === 0x30) p++;
    else if (first >= 0x31 && first <= 0x39) skipDigits();
    else fail();
    if (b[p]! === 0x2e) {
        p++;
        if (skipDigits() === 0) fail();
    }
    const e = b[p]!;
    if (e === 0x65 || e === 0x45) {
        p++;
        const sign = b[p]!;
        if (sign === 0x2b || sign === 0x2d) p++;
        if (skipDigits() === 0) fail();
    }
}

function skipLiteral(word: string): void {
    for (let i = 0; i < word.length; i++) if (b[p++] !== word.charCodeAt(i)) fail();
}

/** A member's key and its colon, leaving `p` before the value. */
function skipKey(): void {
    if (b[p]! !== 0x22) fail();
    skipString();
    skipWhitespace();
    if (b[p++]! !== 0x3a) fail();
}

const OPEN: number[] = [];

/** Skips one value of any kind at `p` (after whitespace); nesting is walked without recursion. */
function skipValue(): void {
    // The containers open around `p`: 0x7b `{` or 0x5b `[` (one array for every call: it is not reentered).
    const open = OPEN;
    let depth = 0;
    for (;;) {
        skipWhitespace();
        const c = b[p]!;
        if (c === 0x7b || c === 0x5b) {
            p++;
            skipWhitespace();
            if (b[p]! === (c === 0x7b ? 0x7d : 0x5d)) {
                p++;
            } else {
                open[depth++] = c;
                if (c === 0x7b) skipKey();
                continue;
            }
        } else if (c === 0x22) {
            skipString();
        } else if (c === 0x74) {
            skipLiteral('true');
        } else if (c === 0x66) {
            skipLiteral('false');
        } else if (c === 0x6e) {
            skipLiteral('null');
        } else {
            skipNumber();
        }
        // A value ended: close what ends here, or go on to the next member or element.
        for (;;) {
            if (depth === 0) return;
            skipWhitespace();
            const next = b[p++]!;
            const inside = open[depth - 1];
            if (next === 0x2c) {
                if (inside === 0x7b) {
                    skipWhitespace();
                    skipKey();
                }
                break;
            }
            if (next !== (inside === 0x7b ? 0x7d : 0x5d)) fail();
            depth--;
        }
    }
}

const enum Key {
    Other,
    Id,
    Metadata,
    Records,
    NextCursor,
}

const KEYS: ReadonlyArray<readonly [Key, string, Buffer]> = (
    [
        [Key.Id, 'id'],
        [Key.Metadata, '_nango_metadata'],
        [Key.Records, 'records'],
        [Key.NextCursor, 'next_cursor'],
    ] as const
).map(([key, text]) => [key, text, Buffer.from(text)] as const);

function keyOf(text: string): Key {
    for (const [key, known] of KEYS) if (text === known) return key;
    return Key.Other;
}

/** Whether the body holds `bytes` at `from` (a loop: Buffer.compare's checks cost more than these few bytes). */
function sameBytes(from: number, bytes: Buffer): boolean {
    for (let i = 0; i < bytes.length; i++) if (b[from + i] !== bytes[i]) return false;
    return true;
}

/** Which of the keys the scanner looks for the member at `p` has; then past the colon and whitespace. */
function readKey(): Key {
    if (b[p] !== 0x22) fail();
    const from = p + 1;
    const escaped = skipString();
    const to = p - 1;
    let key = Key.Other;
    if (escaped) {
        key = keyOf(JSON.parse(b.toString('utf8', from - 1, p)) as string);
    } else {
        for (const [k, , bytes] of KEYS) {
            if (bytes.length === to - from && sameBytes(from, bytes)) {
                key = k;
                break;
            }
        }
    }
    skipWhitespace();
    if (b[p++] !== 0x3a) fail();
    skipWhitespace();
    return key;
}

/**
 * The metadata object at `p`, walked for `metaSpans` (its values' places) in the same pass that
 * checks it; JSON.parse of each record's metadata was about a tenth of the page worker's CPU samples
 * in a perf profile (strings and an object a record, most of them alike). Anything but a flat object of the known keys with
 * unescaped strings or nulls is walked again as any value and gives null.
 */
function scanMetadata(): number[] | null {
    const from = p;
    if (b[p]! !== 0x7b) {
        skipValue();
        return null;
    }
    const spans = [-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2];
    p++;
    skipWhitespace();
    if (b[p]! === 0x7d) {
        p++;
        return spans;
    }
    for (;;) {
        if (b[p]! !== 0x22) fail();
        const keyFrom = p + 1;
        const field = skipString() ? -1 : metaField(keyFrom, p - 1);
        skipWhitespace();
        if (b[p++]! !== 0x3a) fail();
        skipWhitespace();
        if (field < 0 || spans[2 * field] !== -2) break;
        const c = b[p]!;
        if (c === 0x22) {
            const start = p + 1;
            if (skipString()) break;
            spans[2 * field] = start;
            spans[2 * field + 1] = p - 1;
        } else if (c === 0x6e) {
            skipLiteral('null');
            spans[2 * field] = -1;
            spans[2 * field + 1] = -1;
        } else {
            break;
        }
        skipWhitespace();
        const next = b[p++]!;
        if (next === 0x7d) return spans;
        if (next !== 0x2c) fail();
        skipWhitespace();
    }
    p = from;
    skipValue();
    return null;
}

/** Which of `META_FIELDS` the key `b[from, to)` is, or −1. */
function metaField(from: number, to: number): number {
    for (let f = 0; f < META_KEY_BYTES.length; f++) {
        const bytes = META_KEY_BYTES[f]!;
        if (bytes.length === to - from && sameBytes(from, bytes)) return f;
    }
    return -1;
}

function scanRecord(): ScannedRecord {
    const record: ScannedRecord = { start: p, end: 0, slow: true, payloadEnd: 0, metaStart: 0, id: '', keys: 0, metaSpans: null };
    if (b[p]! !== 0x7b) {
        // Not an object: the row builder says what is wrong with it.
        skipValue();
        record.end = p;
        return record;
    }
    p++;
    skipWhitespace();
    if (b[p]! === 0x7d) {
        record.end = ++p;
        return record;
    }
    let ids = 0;
    let stringId = false;
    let metas = 0;
    let metaIsLast = false;
    let comma = -1;
    for (;;) {
        const key = readKey();
        record.keys++;
        metaIsLast = false;
        if (key === Key.Id) {
            ids++;
            stringId = b[p]! === 0x22;
            // A number (or worse) is converted by the row builder, on the slow path.
            if (stringId) record.id = readString();
            else skipValue();
        } else if (key === Key.Metadata) {
            metas++;
            metaIsLast = comma >= 0;
            record.payloadEnd = comma;
            record.metaStart = p;
            record.metaSpans = scanMetadata();
        } else {
            skipValue();
        }
        skipWhitespace();
        const c = b[p]!;
        if (c === 0x2c) {
            comma = p++;
            skipWhitespace();
            continue;
        }
        if (c !== 0x7d) fail();
        record.end = ++p;
        break;
    }
    record.slow = !(ids === 1 && stringId && metas === 1 && metaIsLast);
    return record;
}

function scanRecords(): ScannedRecord[] {
    const records: ScannedRecord[] = [];
    p++;
    skipWhitespace();
    if (b[p]! === 0x5d) {
        p++;
        return records;
    }
    for (;;) {
        records.push(scanRecord());
        skipWhitespace();
        const c = b[p++]!;
        if (c === 0x5d) return records;
        if (c !== 0x2c) fail();
        skipWhitespace();
    }
}

/** Scans a `GET /records` body; throws NangoProtocolError for a body that is not JSON or not a page. */
export function scanRecordsPage(body: Buffer): ScannedPage {
    if (!isUtf8(body)) {
        // Into a buffer of its own (Buffer.from may use Node's shared pool, which the page's copy to the main thread would carry).
        const text = body.toString('utf8');
        body = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
        body.write(text);
    }
    b = body;
    words = (body.byteOffset & 3) === 0 ? new Uint32Array(body.buffer, body.byteOffset, body.length >> 2) : NO_WORDS;
    p = 0;
    try {
        // A repeated key: JSON.parse keeps the last value, and so does this.
        let records: ScannedRecord[] | undefined;
        let nextCursor: string | null | undefined;
        skipWhitespace();
        if (b[p]! !== 0x7b) {
            // Valid JSON that is not an object is not a page; anything else is not JSON.
            skipValue();
            skipWhitespace();
            if (p !== b.length) fail();
            throw new NangoProtocolError(NOT_A_PAGE);
        }
        p++;
        skipWhitespace();
        if (b[p]! === 0x7d) {
            p++;
        } else {
            for (;;) {
                const key = readKey();
                const c = b[p]!;
                if (key === Key.Records) {
                    records = undefined;
                    if (c === 0x5b) records = scanRecords();
                    else skipValue();
                } else if (key === Key.NextCursor) {
                    nextCursor = undefined;
                    if (c === 0x22) {
                        nextCursor = readString();
                    } else {
                        if (c === 0x6e) nextCursor = null;
                        skipValue();
                    }
                } else {
                    skipValue();
                }
                skipWhitespace();
                const next = b[p++]!;
                if (next === 0x7d) break;
                if (next !== 0x2c) fail();
                skipWhitespace();
            }
        }
        skipWhitespace();
        if (p !== b.length) fail();
        if (records === undefined || nextCursor === undefined) throw new NangoProtocolError(NOT_A_PAGE);
        return { bytes: body, nextCursor, records };
    } finally {
        b = EMPTY;
        words = NO_WORDS;
    }
}
