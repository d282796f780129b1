/**
 * One record of the fake Nango records store, with its wire rendering cached.
 *
 * The JSON a page carries for a record is `head + meta`:
 * - `body` is `{...payload, id: externalId}` serialized without its closing brace; it is kept
 *   even when pruned, because Nango keeps the data hash of pruned rows for change detection;
 * - `meta` is `,"_nango_metadata":{…}}`, re-rendered whenever a timestamp changes.
 * Both are Buffers (off the V8 heap) so a million ~1 KB records fit and a page is a memcpy.
 */
import { createHash } from 'node:crypto';

import { encodeCursor } from './fakeCursor.js';
import { toPostgresJson } from './nangoTime.js';

// Records are copied into 1 MiB slabs: one Buffer.from per record (8 KiB pool, 6 records each)
// made bulk loading of a million records spend most of its time allocating.
const SLAB_BYTES = 1 << 20;
let slab = Buffer.allocUnsafe(SLAB_BYTES);
let slabOffset = 0;

/** Copies `text` (minus `trimEnd` trailing ASCII chars) into the current slab. */
export function slabBuffer(text: string, trimEnd = 0): Buffer {
    const worstCase = text.length * 3; // UTF-8 bytes per UTF-16 unit, at most
    if (worstCase > SLAB_BYTES >>> 4) return Buffer.from(trimEnd > 0 ? text.slice(0, -trimEnd) : text);
    if (slabOffset + worstCase > SLAB_BYTES) {
        slab = Buffer.allocUnsafe(SLAB_BYTES);
        slabOffset = 0;
    }
    const length = slab.write(text, slabOffset) - trimEnd;
    const out = slab.subarray(slabOffset, slabOffset + length);
    slabOffset += length + trimEnd;
    return out;
}

export type LastAction = 'ADDED' | 'UPDATED' | 'DELETED';

/** Position of a record in its table's (updated_at, uuid) order; stale once the record moves. */
export interface OrderEntry {
    readonly rec: StoredRecord;
    readonly updatedAt: bigint;
    readonly uuid: string;
}

export class StoredRecord {
    createdAt: bigint;
    updatedAt: bigint;
    deletedAt: bigint | null = null;
    prunedAt: bigint | null = null;
    meta: Buffer = Buffer.alloc(0);
    entry: OrderEntry | null = null;

    constructor(
        readonly externalId: string,
        readonly uuid: string,
        public body: Buffer,
        now: bigint
    ) {
        this.createdAt = now;
        this.updatedAt = now;
    }

    /** Same CASE expression as Nango's getRecords query. */
    get lastAction(): LastAction {
        if (this.deletedAt !== null) return 'DELETED';
        return this.createdAt === this.updatedAt ? 'ADDED' : 'UPDATED';
    }

    get cursor(): string {
        return encodeCursor(this.updatedAt, this.uuid);
    }

    /** Pruned rows are served as `{id, _nango_metadata}` only. */
    head(): Buffer {
        return this.prunedAt === null ? this.body : Buffer.from(`{"id":${JSON.stringify(this.externalId)}`);
    }

    renderMeta(): void {
        const deleted = this.deletedAt === null ? 'null' : `"${toPostgresJson(this.deletedAt)}"`;
        const pruned = this.prunedAt === null ? 'null' : `"${toPostgresJson(this.prunedAt)}"`;
        this.meta = slabBuffer(
            `,"_nango_metadata":{"first_seen_at":"${toPostgresJson(this.createdAt)}","last_modified_at":"${toPostgresJson(this.updatedAt)}",` +
                `"last_action":"${this.lastAction}","deleted_at":${deleted},"pruned_at":${pruned},"cursor":"${this.cursor}"}}`
        );
    }

    /** The record exactly as a page carries it. */
    toJSONString(): string {
        return Buffer.concat([this.head(), this.meta]).toString('utf8');
    }
}

/**
 * Renders `{...payload, id: externalId}` without the closing brace. `id` keeps the payload's key
 * position (object spread semantics) and is always the string external id; a payload
 * `_nango_metadata` key is dropped because the rendered metadata replaces it.
 */
export function renderBody(payload: Record<string, unknown>, externalId: string): Buffer {
    const obj: Record<string, unknown> = { ...payload, id: externalId };
    delete obj['_nango_metadata'];
    return slabBuffer(JSON.stringify(obj), 1); // drop the closing brace
}

/** RFC 4122 name-based uuid v5 (SHA-1), as the `uuid` package computes it. */
export function uuidV5(name: string, namespace: Buffer): string {
    const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
    hash[6] = (hash[6]! & 0x0f) | 0x50;
    hash[8] = (hash[8]! & 0x3f) | 0x80;
    const hex = hash.toString('hex', 0, 16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function uuidBytes(uuid: string): Buffer {
    return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export const NIL_UUID_BYTES = Buffer.alloc(16);
