import { toMicroIso } from '../domain/timestamps.js';
import type { RecordRow } from '../domain/recordRow.js';
import type { ScannedPage } from '../nango/scanRecordsPage.js';
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
    for (const r of records) {
        if (r.slow) {
            const row = toRecordRow(JSON.parse(bytes.toString('utf8', r.start, r.end)));
            pushRow(columns, row, row.data);
            continue;
        }
        const meta = JSON.parse(bytes.toString('utf8', r.metaStart, r.end - 1)) as NangoRecordMetadata;
        const fields = rowFields(r.id, meta, r.keys === 2);
        if (fields.keepData) {
            pushRow(columns, fields, standIn(r.id));
        } else {
            bytes[r.payloadEnd] = 0x7d;
            pushRow(columns, fields, [r.start, r.payloadEnd + 1]);
        }
    }
    return columns;
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
