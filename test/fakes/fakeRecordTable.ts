/**
 * The records of one (connection, store model), kept in Nango's read order
 * `ORDER BY updated_at, id` so a page from a cursor costs O(log n + page).
 *
 * Every mutation stamps the records it moves with one fresh `now`, which is normally later than
 * anything stored, so moved records are appended (sorted among themselves) and their old slots
 * become stale entries that reads skip and a compaction drops. A clock going backwards just
 * marks the array unsorted; the next read re-sorts it.
 */
import type { CursorPosition } from './fakeCursor.js';
import { StoredRecord, uuidBytes, uuidV5, type OrderEntry, NIL_UUID_BYTES } from './fakeStoredRecord.js';

export type RecordPredicate = (rec: StoredRecord) => boolean;

export interface TableQuery {
    /** Rows strictly after this (updated_at, uuid) tuple. */
    after?: CursorPosition | undefined;
    /** Rows with updated_at >= this (epoch µs). */
    modifiedAfterMicros?: bigint | undefined;
    filter?: RecordPredicate | undefined;
    externalIds?: string[] | undefined;
    /** How many rows to return at most (the HTTP layer asks for limit + 1). */
    fetch: number;
}

function compareKeys(aTime: bigint, aUuid: string, bTime: bigint, bUuid: string): number {
    if (aTime !== bTime) return aTime < bTime ? -1 : 1;
    return aUuid < bUuid ? -1 : aUuid > bUuid ? 1 : 0;
}

function compareEntries(a: OrderEntry, b: OrderEntry): number {
    return compareKeys(a.updatedAt, a.uuid, b.updatedAt, b.uuid);
}

function compareRecords(a: StoredRecord, b: StoredRecord): number {
    return compareKeys(a.updatedAt, a.uuid, b.updatedAt, b.uuid);
}

const isLive = (e: OrderEntry): boolean => e.rec.entry === e;

export class RecordTable {
    readonly byId = new Map<string, StoredRecord>();
    private order: OrderEntry[] = [];
    private sorted = true;
    private stale = 0;
    private readonly uuidNamespace: Buffer;
    private readonly uuidPrefix: string;

    /**
     * Internal ids are Nango's `uuid.v5(connId+model+externalId, uuid.v5(connId+model, NIL))`
     * over the internal numeric connection id: stable across emptyCache, new after the connection
     * is deleted and re-created, and impossible for a client to predict.
     */
    constructor(internalConnectionId: number, storeModel: string) {
        this.uuidPrefix = `${internalConnectionId}${storeModel}`;
        this.uuidNamespace = uuidBytes(uuidV5(this.uuidPrefix, NIL_UUID_BYTES));
    }

    uuidFor(externalId: string): string {
        return uuidV5(`${this.uuidPrefix}${externalId}`, this.uuidNamespace);
    }

    get size(): number {
        return this.byId.size;
    }

    /** Re-inserts records whose updated_at changed (or that are new) at their new position. */
    reposition(moved: Iterable<StoredRecord>): void {
        const entries: OrderEntry[] = [];
        for (const rec of moved) {
            if (rec.entry) this.stale++;
            const entry: OrderEntry = { rec, updatedAt: rec.updatedAt, uuid: rec.uuid };
            rec.entry = entry;
            entries.push(entry);
        }
        if (entries.length === 0) return;
        entries.sort(compareEntries);
        const tail = this.order[this.order.length - 1];
        if (tail && compareEntries(tail, entries[0]!) >= 0) this.sorted = false;
        for (const entry of entries) this.order.push(entry);
        if (this.stale > 1024 && this.stale * 2 > this.order.length) this.compact();
    }

    private compact(): void {
        this.order = this.order.filter(isLive);
        if (!this.sorted) this.order.sort(compareEntries);
        this.sorted = true;
        this.stale = 0;
    }

    /** First index whose key is > (micros, uuid). */
    private upperBound(micros: bigint, uuid: string): number {
        let lo = 0;
        let hi = this.order.length;
        while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            const e = this.order[mid]!;
            if (compareKeys(e.updatedAt, e.uuid, micros, uuid) <= 0) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /** First index whose updated_at is >= micros. */
    private lowerBoundTime(micros: bigint): number {
        let lo = 0;
        let hi = this.order.length;
        while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (this.order[mid]!.updatedAt < micros) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private matches(rec: StoredRecord, q: TableQuery): boolean {
        if (q.after && compareKeys(rec.updatedAt, rec.uuid, q.after.micros, q.after.uuid) <= 0) return false;
        if (q.modifiedAfterMicros !== undefined && rec.updatedAt < q.modifiedAfterMicros) return false;
        return !q.filter || q.filter(rec);
    }

    /** Rows matching the query in (updated_at, uuid) order, at most `q.fetch` of them. */
    query(q: TableQuery): StoredRecord[] {
        if (q.externalIds) {
            // WHERE external_id IN (…): look the ids up directly instead of scanning.
            const rows = new Set<StoredRecord>();
            for (const id of q.externalIds) {
                const rec = this.byId.get(id.replaceAll('\x00', ''));
                if (rec && this.matches(rec, q)) rows.add(rec);
            }
            return [...rows].sort(compareRecords).slice(0, q.fetch);
        }
        if (!this.sorted) this.compact();
        let i = q.after ? this.upperBound(q.after.micros, q.after.uuid) : 0;
        if (q.modifiedAfterMicros !== undefined) i = Math.max(i, this.lowerBoundTime(q.modifiedAfterMicros));
        const rows: StoredRecord[] = [];
        for (; i < this.order.length && rows.length < q.fetch; i++) {
            const entry = this.order[i]!;
            if (!isLive(entry)) continue;
            if (q.filter && !q.filter(entry.rec)) continue;
            rows.push(entry.rec);
        }
        return rows;
    }

    /** All records in read order (for assertions). */
    all(): StoredRecord[] {
        return [...this.byId.values()].sort(compareRecords);
    }
}
