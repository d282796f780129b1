import { toMicroIso } from '../domain/timestamps.js';
import type { RecordRow } from '../domain/recordRow.js';

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
export function toRecordRow(record: unknown): RecordRow {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
        throw new RecordShapeError(`Expected a record object, got ${typeof record}`);
    }
    // The parsed page is ours: drop the metadata in place rather than copy every payload.
    // Nango renders `_nango_metadata` last, and deleting the last property keeps V8's fast shape.
    const payload = record as Record<string, unknown> & { _nango_metadata?: NangoRecordMetadata };
    const meta = payload._nango_metadata;
    delete payload._nango_metadata;
    const rawId = payload['id'];
    if (typeof rawId !== 'string' && typeof rawId !== 'number') {
        throw new RecordShapeError('A record has no string or number `id`.');
    }
    const id = String(rawId);
    if (!meta || typeof meta !== 'object' || typeof meta.cursor !== 'string' || typeof meta.last_modified_at !== 'string') {
        throw new RecordShapeError(`Record ${id} has no usable _nango_metadata (cursor, last_modified_at).`);
    }
    if (!ACTIONS.has(meta.last_action)) {
        throw new RecordShapeError(`Record ${id} has an unknown last_action ${JSON.stringify(meta.last_action)}.`);
    }
    if (typeof rawId !== 'string') payload['id'] = id;
    const prunedAt = meta.pruned_at == null ? null : timestamp(meta.pruned_at);
    const deleted = meta.last_action === 'DELETED';
    const keepData = prunedAt !== null || (deleted && Object.keys(payload).length === 1);
    return {
        id,
        data: keepData ? JSON.stringify({ id }) : JSON.stringify(payload),
        keepData,
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
