import { toMicroIso } from '../domain/timestamps.js';
import type { RecordRow } from '../domain/recordRow.js';
import { META_SPAN, type ScannedPage, type ScannedRecord } from '../nango/scanRecordsPage.js';
import { emptyColumns, pushRow, type RowColumns, type RowFields } from './rowColumns.js';

/** A page record as Nango returns it (protocol §4.2); checked by hand because this runs per row. */
export interface NangoRecordMetadata {
    first_seen_at: string;
    last_modified_at: string;
    last_action: 'ADDED' | 'UPDATED' | 'DELETED';
    deleted_at: string | null;
    pruned_at?: string | null;
    cursor: string;
}

export class RecordShapeError extends Error {
    override readonly name = 'RecordShapeError';
}

const ACTIONS = new Set(['ADDED', 'UPDATED', 'DELETED']);

/**
 * Turns one Nango record into a row:
 * - pruned (`pruned_at` set): no payload, so keep the stored data; never seen → `{"id": …}`;
 * - DELETED with only `{id}` (batchDelete's usual shape): keep the last full payload;
 * - the id is text: `5` and `"5"` are one record.
 */
export function toRecordRow(record: unknown): RecordRow & { data: string } {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
        throw new RecordShapeError(`Expected a record object, got ${typeof record}`);
    }
    // The parsed record is ours: drop the metadata in place rather than copy the payload.
    const payload = record as Record<string, unknown> & { _nango_metadata?: NangoRecordMetadata };
    const meta = payload._nango_metadata;
    delete payload._nango_metadata;
    const rawId = payload['id'];
    if (typeof rawId !== 'string' && typeof rawId !== 'number') {
        throw new RecordShapeError('A record has no string or number `id`.');
    }
    const id = String(rawId);
    if (typeof rawId !== 'string') payload['id'] = id;
    const fields = rowFields(id, meta, meta?.last_action === 'DELETED' && Object.keys(payload).length === 1);
    return { ...fields, data: fields.keepData ? standIn(id) : JSON.stringify(payload) };
}

/**
 * The rows of a scanned `GET /records` page, as columns for the main thread; each the same row as
 * `toRecordRow` of the parsed record. A record in Nango's own shape is not parsed: only its
 * metadata is, and its payload stays in the page's bytes, the comma before the metadata key
 * overwritten with the payload's closing `}` (scanRecordsPage.ts). Any other record is parsed alone.
 */
export function toRowColumns(page: ScannedPage): RowColumns {
    const { bytes, records } = page;
    const columns = emptyColumns(records.length, bytes);
    recent.length = 0;
    nextRecent = 0;
    for (const r of records) {
        if (r.slow) {
            const row = toRecordRow(JSON.parse(bytes.toString('utf8', r.start, r.end)));
            pushRow(columns, row, row.data);
            continue;
        }
        const fields = spannedFields(bytes, r) ?? rowFields(r.id, JSON.parse(bytes.toString('utf8', r.metaStart, r.end - 1)) as NangoRecordMetadata, r.keys === 2);
        if (fields.keepData) {
            pushRow(columns, fields, standIn(r.id));
        } else {
            bytes[r.payloadEnd] = 0x7d;
            pushRow(columns, fields, [r.start, r.payloadEnd + 1]);
        }
    }
    return columns;
}

const { first_seen_at: FIRST_SEEN, last_modified_at: LAST_MODIFIED, last_action: ACTION, deleted_at: DELETED, pruned_at: PRUNED, cursor: CURSOR } = META_SPAN;
const ACTION_BYTES = (['ADDED', 'UPDATED', 'DELETED'] as const).map((action) => [action, Buffer.from(action)] as const);

/**
 * The row fields of a record from where the scanner found its metadata's values, as `rowFields`
 * of the parsed metadata gives them; undefined when the metadata is anything but the common valid
 * shape (cursor and last_modified_at strings, a known last_action), which `rowFields` then parses
 * and reports on. Timestamps repeat from record to record (one Nango transaction, one time), so
 * one whose bytes match a recent one is taken without making its string again.
 */
function spannedFields(bytes: Buffer, r: ScannedRecord): RowFields | undefined {
    const spans = r.metaSpans;
    if (!spans || spans[CURSOR]! < 0 || spans[LAST_MODIFIED]! < 0 || spans[ACTION]! < 0) return undefined;
    const action = actionAt(bytes, spans[ACTION]!, spans[ACTION + 1]!);
    if (!action) return undefined;
    // Converted in rowFields' order, so a record with two bad times names the same one.
    const prunedAt = spans[PRUNED]! < 0 ? null : timestampAt(bytes, spans[PRUNED]!, spans[PRUNED + 1]!);
    const deletedAt = spans[DELETED]! < 0 ? null : timestampAt(bytes, spans[DELETED]!, spans[DELETED + 1]!);
    const firstSeen = spans[FIRST_SEEN]! < 0 ? LAST_MODIFIED : FIRST_SEEN;
    const firstSeenAt = timestampAt(bytes, spans[firstSeen]!, spans[firstSeen + 1]!);
    const lastModifiedAt = timestampAt(bytes, spans[LAST_MODIFIED]!, spans[LAST_MODIFIED + 1]!);
    return {
        id: r.id,
        keepData: prunedAt !== null || (action === 'DELETED' && r.keys === 2),
        lastAction: action,
        deletedAt,
        prunedAt,
        firstSeenAt,
        lastModifiedAt,
        cursor: bytes.toString('utf8', spans[CURSOR], spans[CURSOR + 1]),
    };
}

function actionAt(bytes: Uint8Array, start: number, end: number): RecordRow['lastAction'] | undefined {
    for (const [action, known] of ACTION_BYTES) if (sameAt(bytes, start, end, known, 0, known.length)) return action;
    return undefined;
}

function sameAt(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
    if (aEnd - aStart !== bEnd - bStart) return false;
    for (let i = 0; i < aEnd - aStart; i++) if (a[aStart + i] !== b[bStart + i]) return false;
    return true;
}

/** The last timestamps read from the page being converted (emptied for each page): where their text is, and what it converted to. */
const RECENT = 4;
const recent: Array<{ start: number; end: number; value: string }> = [];
let nextRecent = 0;

function timestampAt(bytes: Buffer, start: number, end: number): string {
    for (const seen of recent) if (sameAt(bytes, start, end, bytes, seen.start, seen.end)) return seen.value;
    const value = timestamp(bytes.toString('utf8', start, end));
    const entry = { start, end, value };
    if (recent.length < RECENT) recent.push(entry);
    else recent[nextRecent] = entry;
    nextRecent = (nextRecent + 1) % RECENT;
    return value;
}

/** What a row without a payload of its own stores on insert. */
function standIn(id: string): string {
    return JSON.stringify({ id });
}

/** The row of a record whose id is `id`, but its payload; `idOnly`: the payload has no key but `id` (read for deletes only). */
function rowFields(id: string, meta: NangoRecordMetadata | undefined, idOnly: boolean): RowFields {
    if (!meta || typeof meta !== 'object' || typeof meta.cursor !== 'string' || typeof meta.last_modified_at !== 'string') {
        throw new RecordShapeError(`Record ${id} has no usable _nango_metadata (cursor, last_modified_at).`);
    }
    if (!ACTIONS.has(meta.last_action)) {
        throw new RecordShapeError(`Record ${id} has an unknown last_action ${JSON.stringify(meta.last_action)}.`);
    }
    const prunedAt = meta.pruned_at == null ? null : timestamp(meta.pruned_at);
    const deleted = meta.last_action === 'DELETED';
    return {
        id,
        keepData: prunedAt !== null || (deleted && idOnly),
        lastAction: meta.last_action,
        deletedAt: meta.deleted_at == null ? null : timestamp(meta.deleted_at),
        prunedAt,
        firstSeenAt: timestamp(meta.first_seen_at ?? meta.last_modified_at),
        lastModifiedAt: timestamp(meta.last_modified_at),
        cursor: meta.cursor,
    };
}

// Records written in one Nango transaction share their timestamps, so most conversions repeat.
const converted = new Map<string, string>();

function timestamp(value: string): string {
    let out = converted.get(value);
    if (out === undefined) {
        if (converted.size >= 4096) converted.clear();
        out = toMicroIso(value);
        converted.set(value, out);
    }
    return out;
}
