/**
 * In-memory model of Nango's records cache (protocol §4.2–§4.6), independent of HTTP.
 *
 * Each mutation is one "transaction": it reads the clock once and stamps every record it changes
 * with that single updated_at, so batches share a timestamp and ties are broken by uuid, exactly
 * the situation that makes cursor paging (rather than timestamp paging) necessary.
 */
import { RecordTable, type TableQuery } from './fakeRecordTable.js';
import { StoredRecord, renderBody, type LastAction } from './fakeStoredRecord.js';
import { toPostgresJson } from './nangoTime.js';

export interface StoreKey {
    providerConfigKey: string;
    connectionId: string;
    /** Base model name. */
    model: string;
    /** Absent or 'base' means the base store model. */
    variant?: string | undefined;
}

export interface RecordInput {
    id: string | number;
    [key: string]: unknown;
}

export interface MutationResult {
    added: number;
    updated: number;
    deleted: number;
    unchanged: number;
    /** The transaction's timestamp (epoch µs). */
    updatedAt: bigint;
}

export interface RecordState {
    /** Stored payload with `id` as the string external id; null when pruned. */
    payload: Record<string, unknown> | null;
    deleted: boolean;
    pruned: boolean;
    lastAction: LastAction;
    firstSeenAt: string;
    lastModifiedAt: string;
    deletedAt: string | null;
    prunedAt: string | null;
    cursor: string;
    uuid: string;
    updatedAtMicros: bigint;
}

/** `${model}::${variant}` unless the variant is absent or 'base' (as getRecords computes it). */
export function storeModelName(model: string, variant?: string): string {
    return variant && variant !== 'base' ? `${model}::${variant}` : model;
}

interface ConnectionState {
    internalId: number;
    tables: Map<string, RecordTable>;
}

function connectionKey(providerConfigKey: string, connectionId: string): string {
    return `${providerConfigKey}\n${connectionId}`;
}

/** Nango stores `String(datum.id)`; the fake only accepts string and number ids. */
function externalIdOf(input: { id?: unknown }): string {
    const id = input.id;
    if (typeof id === 'string' || typeof id === 'number') return String(id);
    throw new Error('fake nango: every record needs a string or number id');
}

function emptyResult(updatedAt: bigint): MutationResult {
    return { added: 0, updated: 0, deleted: 0, unchanged: 0, updatedAt };
}

export class FakeRecordStore {
    private readonly connections = new Map<string, ConnectionState>();
    private nextInternalId = 1;

    constructor(private readonly now: () => bigint) {}

    /** Idempotent. A re-created connection gets a new internal id, hence new record uuids. */
    addConnection(providerConfigKey: string, connectionId: string): void {
        const key = connectionKey(providerConfigKey, connectionId);
        if (!this.connections.has(key)) this.connections.set(key, { internalId: this.nextInternalId++, tables: new Map() });
    }

    /** Hard-deletes the connection's records (no tombstones). Returns whether it existed. */
    deleteConnection(providerConfigKey: string, connectionId: string): boolean {
        return this.connections.delete(connectionKey(providerConfigKey, connectionId));
    }

    hasConnection(providerConfigKey: string, connectionId: string): boolean {
        return this.connections.has(connectionKey(providerConfigKey, connectionId));
    }

    /** Mutations create the connection on first use, so tests can just save. */
    private table(key: StoreKey): RecordTable {
        this.addConnection(key.providerConfigKey, key.connectionId);
        const conn = this.connections.get(connectionKey(key.providerConfigKey, key.connectionId))!;
        const storeModel = storeModelName(key.model, key.variant);
        let table = conn.tables.get(storeModel);
        if (!table) {
            table = new RecordTable(conn.internalId, storeModel);
            conn.tables.set(storeModel, table);
        }
        return table;
    }

    /**
     * batchSave: new → ADDED; deleted → undeleted, ADDED again with created_at = updated_at = now;
     * changed payload → UPDATED; identical payload → unchanged (no updated_at bump), which for a
     * pruned record also restores the payload and clears pruned_at without moving it (§4.5).
     */
    save(key: StoreKey, records: Iterable<RecordInput>): MutationResult {
        const table = this.table(key);
        const now = this.now();
        const result = emptyResult(now);
        const moved = new Set<StoredRecord>();
        for (const input of records) {
            const externalId = externalIdOf(input);
            const body = renderBody(input, externalId);
            let rec = table.byId.get(externalId);
            if (!rec) {
                rec = new StoredRecord(externalId, table.uuidFor(externalId), body, now);
                table.byId.set(externalId, rec);
                result.added++;
                moved.add(rec);
            } else if (rec.deletedAt !== null) {
                rec.body = body;
                rec.createdAt = rec.updatedAt = now;
                rec.deletedAt = rec.prunedAt = null;
                result.added++;
                moved.add(rec);
            } else if (!rec.body.equals(body)) {
                rec.body = body;
                rec.updatedAt = now;
                rec.prunedAt = null;
                result.updated++;
                moved.add(rec);
            } else {
                result.unchanged++;
                if (rec.prunedAt === null) continue;
                rec.prunedAt = null;
            }
            rec.renderMeta();
        }
        table.reposition(moved);
        return result;
    }

    /**
     * nango.batchDelete (§4.4): deleted_at = updated_at = now and the stored payload becomes the
     * object passed (often just {id}). An unknown id is inserted as a tombstone, as the upsert does.
     */
    batchDelete(key: StoreKey, objects: Iterable<RecordInput>): MutationResult {
        const table = this.table(key);
        const now = this.now();
        const result = emptyResult(now);
        const moved = new Set<StoredRecord>();
        for (const input of objects) {
            const externalId = externalIdOf(input);
            const body = renderBody(input, externalId);
            let rec = table.byId.get(externalId);
            if (!rec) {
                rec = new StoredRecord(externalId, table.uuidFor(externalId), body, now);
                table.byId.set(externalId, rec);
            } else {
                if (rec.deletedAt === null) result.deleted++;
                rec.body = body;
                rec.updatedAt = now;
                rec.prunedAt = null;
            }
            rec.deletedAt = now;
            rec.renderMeta();
            moved.add(rec);
        }
        table.reposition(moved);
        return result;
    }

    /** trackDeletes / deleteOutdatedRecords: live records only; the last payload is kept. */
    trackDelete(key: StoreKey, ids: Iterable<string | number>): MutationResult {
        const table = this.table(key);
        const now = this.now();
        const result = emptyResult(now);
        const moved = new Set<StoredRecord>();
        for (const id of ids) {
            const rec = table.byId.get(String(id));
            if (!rec || rec.deletedAt !== null) continue;
            rec.deletedAt = rec.updatedAt = now;
            rec.renderMeta();
            moved.add(rec);
            result.deleted++;
        }
        table.reposition(moved);
        return result;
    }

    /** Prunes (all records when `ids` is omitted): pruned_at = now, payload no longer served, updated_at unchanged. */
    prune(key: StoreKey, ids?: Iterable<string | number>): number {
        const table = this.table(key);
        const now = this.now();
        const targets = ids ? [...ids].map((id) => table.byId.get(String(id))) : [...table.byId.values()];
        let count = 0;
        for (const rec of targets) {
            if (!rec || rec.prunedAt !== null) continue;
            rec.prunedAt = now;
            rec.renderMeta();
            count++;
        }
        return count;
    }

    /** triggerSync with emptyCache: hard delete, no tombstones. Returns how many records vanished. */
    emptyCache(key: StoreKey): number {
        const conn = this.connections.get(connectionKey(key.providerConfigKey, key.connectionId));
        const storeModel = storeModelName(key.model, key.variant);
        const table = conn?.tables.get(storeModel);
        if (!conn || !table) return 0;
        conn.tables.delete(storeModel);
        return table.size;
    }

    /** Bulk load for benchmarks: `count` records from `makeRecord(i)`, one transaction per batch. */
    saveGenerated(key: StoreKey, count: number, makeRecord: (i: number) => RecordInput, batchSize = 1000): MutationResult {
        const total = emptyResult(0n);
        for (let start = 0; start < count; start += batchSize) {
            const batch: RecordInput[] = [];
            const end = Math.min(count, start + batchSize);
            for (let i = start; i < end; i++) batch.push(makeRecord(i));
            const r = this.save(key, batch);
            total.added += r.added;
            total.updated += r.updated;
            total.unchanged += r.unchanged;
            total.updatedAt = r.updatedAt;
        }
        return total;
    }

    /** Current state by external id, for assertions. */
    records(key: StoreKey): Map<string, RecordState> {
        const out = new Map<string, RecordState>();
        const conn = this.connections.get(connectionKey(key.providerConfigKey, key.connectionId));
        const table = conn?.tables.get(storeModelName(key.model, key.variant));
        if (!table) return out;
        for (const rec of table.all()) {
            out.set(rec.externalId, {
                payload: rec.prunedAt === null ? (JSON.parse(`${rec.body.toString('utf8')}}`) as Record<string, unknown>) : null,
                deleted: rec.deletedAt !== null,
                pruned: rec.prunedAt !== null,
                lastAction: rec.lastAction,
                firstSeenAt: toPostgresJson(rec.createdAt),
                lastModifiedAt: toPostgresJson(rec.updatedAt),
                deletedAt: rec.deletedAt === null ? null : toPostgresJson(rec.deletedAt),
                prunedAt: rec.prunedAt === null ? null : toPostgresJson(rec.prunedAt),
                cursor: rec.cursor,
                uuid: rec.uuid,
                updatedAtMicros: rec.updatedAt
            });
        }
        return out;
    }

    /** Reads a page; undefined when the connection is unknown. An unknown model is just empty. */
    query(providerConfigKey: string, connectionId: string, storeModel: string, q: TableQuery): StoredRecord[] | undefined {
        const conn = this.connections.get(connectionKey(providerConfigKey, connectionId));
        if (!conn) return undefined;
        return conn.tables.get(storeModel)?.query(q) ?? [];
    }
}
