import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { DeleteMode, RecordRow } from '../../src/domain/recordRow.js';
import type { SyncKey } from '../../src/domain/syncKey.js';
import type { PageResult } from '../../src/storage/store.js';
import { openSqliteStore } from '../../src/storage/sqlite/openSqliteStore.js';
import { commitPage } from '../helpers/commitPage.js';
import { makeTempDir } from '../helpers/harness.js';
import { seededRandom, seedFromEnv, type SeededRandom } from '../helpers/seededRandom.js';

// The SQLite page writer upserts up to 20 rows a statement (pageWriter.ts), cut where the kind of
// row changes (keepData, deleted), where a hard delete comes, and where the page repeats a record,
// and logs the page's inserts by rowid range. One row a statement is what it does once the highest
// rowid may be taken (sqliteChangeLogRowids.test.ts). Random pages of every kind of row, written
// both ways: the stored rows and the page results must be what a row-at-a-time model says, and
// the change log the same changes, each record's in the same order.

const SEED = seedFromEnv('PAGE_WRITER_SEED');
const at = (second: number) => `2026-12-01T10:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.000000Z`;
const key: SyncKey = { providerConfigKey: 'hubspot', connectionId: 'conn-1', model: 'Contact', variant: 'base' };

interface Page {
    rows: RecordRow[];
    deletes: DeleteMode;
}

function randomPages(random: SeededRandom): Page[] {
    const pages: Page[] = [];
    let clock = 10;
    for (let p = 0; p < 40; p++) {
        const rows: RecordRow[] = [];
        const count = 1 + random.int(90);
        for (let i = 0; i < count; i++) {
            clock += random.int(2);
            const id = `r${random.int(50)}`;
            // Mostly newer versions, some older (stale: skipped) and some re-reads of the same.
            const version = random.next() < 0.2 ? Math.max(0, clock - 1 - random.int(20)) : clock;
            const kind = random.int(10);
            const deleted = kind < 2;
            const pruned = kind === 2;
            const idOnly = deleted && random.next() < 0.5;
            rows.push({
                id,
                data: idOnly || pruned ? `{"id":"${id}"}` : JSON.stringify({ id, v: version, n: random.int(3) }),
                keepData: pruned || idOnly,
                lastAction: deleted ? 'DELETED' : random.next() < 0.5 ? 'ADDED' : 'UPDATED',
                deletedAt: deleted ? at(version) : null,
                prunedAt: pruned ? at(version) : null,
                firstSeenAt: at(version),
                lastModifiedAt: at(version),
                cursor: `c${p}-${i}`,
            });
        }
        pages.push({ rows, deletes: random.next() < 0.3 ? 'hard' : 'soft' });
    }
    return pages;
}

interface ModelRow {
    data: string;
    lastAction: string;
    deletedAt: string | null;
    prunedAt: string | null;
    lastModifiedAt: string;
    cursor: string;
}

/** What writing the page one row at a time does to the key's rows, and the page's result. */
function applyToModel(model: Map<string, ModelRow>, page: Page): PageResult {
    const result: PageResult = { upserted: 0, deleted: 0, skipped: 0 };
    for (const row of page.rows) {
        const stored = model.get(row.id);
        if (page.deletes === 'hard' && row.lastAction === 'DELETED') {
            if (stored && stored.lastModifiedAt <= row.lastModifiedAt) {
                model.delete(row.id);
                result.deleted++;
            }
            continue;
        }
        if (stored && row.lastModifiedAt < stored.lastModifiedAt) {
            result.skipped++;
            continue;
        }
        const data = stored && row.keepData ? stored.data : (row.data as string);
        model.set(row.id, { data, lastAction: row.lastAction, deletedAt: row.deletedAt, prunedAt: row.prunedAt, lastModifiedAt: row.lastModifiedAt, cursor: row.cursor });
        if (row.lastAction === 'DELETED') result.deleted++;
        else result.upserted++;
    }
    return result;
}

const HIGHEST_ROWID = 9223372036854775807n;

/**
 * Writes the pages in one pull into a fresh file. `otherRowid`: another key's row at that rowid
 * first (at the highest, every page goes one row a statement; a little below it, pages cross into
 * that mode midway through the pull). `logging` false: changes.enabled off.
 */
async function writeAll(path: string, pages: Page[], options: { otherRowid?: bigint; logging?: boolean } = {}) {
    const store = openSqliteStore({ path });
    try {
        await store.schema.migrate();
        const started = at(0);
        await store.requests.requestPulls([key], started);
        if (options.logging === false) await store.changes.setChangeLogEnabled(false);
        if (options.otherRowid !== undefined) {
            const other = new Database(path);
            other.prepare(`INSERT INTO nango_records (rowid, provider_config_key, connection_id, model, variant, id, data, last_action, first_seen_at, last_modified_at, cursor, synced_at)
                VALUES (?, 'other', 'conn-9', 'Contact', 'base', 'o-max', '{}', 'ADDED', ?, ?, 'c', ?)`).run(options.otherRowid, started, started, started);
            other.close();
        }
        const results: PageResult[] = [];
        await store.pulls.withPull(key, started, async (s) => {
            for (const [p, page] of pages.entries()) {
                results.push(await commitPage(s, { rows: page.rows, cursor: `page-${p}`, deletes: page.deletes, syncedAt: at(p), pullStartedAt: started }));
            }
        });
        // Every change, not only this key's: another key's row logged would show.
        const changes = (await store.changes.readChanges({ after: 0, limit: 100_000 })).map((c) => ({ id: c.connectionId === key.connectionId ? c.recordId : `other:${c.recordId}`, action: c.action, lastModifiedAt: c.lastModifiedAt }));
        const db = new Database(path, { readonly: true });
        const rows = new Map(
            (db.prepare(`SELECT id, data, last_action AS lastAction, deleted_at AS deletedAt, pruned_at AS prunedAt, last_modified_at AS lastModifiedAt, cursor
                FROM nango_records WHERE connection_id = ? ORDER BY id`).all(key.connectionId) as (ModelRow & { id: string })[]).map(({ id, ...row }) => [id, row]),
        );
        const cursor = db.prepare('SELECT cursor FROM nango_sync_state WHERE connection_id = ?').pluck().get(key.connectionId);
        const maxRowid = db.prepare('SELECT max(rowid) FROM nango_records').pluck().safeIntegers(true).get() as bigint;
        db.close();
        return { results, changes, rows, cursor, maxRowid };
    } finally {
        await store.close();
    }
}

/** Each record's changes, in the order logged. */
function byRecord(changes: { id: string; action: string; lastModifiedAt: string | null }[]) {
    const grouped = new Map<string, string[]>();
    for (const c of changes) grouped.set(c.id, [...(grouped.get(c.id) ?? []), `${c.action}@${c.lastModifiedAt}`]);
    return [...grouped.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
}

// Seeds 1 and 2 free the highest rowid with a hard delete and insert after it (a writer that did
// not move back to it fails them); the third is new each run (PAGE_WRITER_SEED replays one).
for (const seed of [1, 2, SEED]) {
    test(`pages written many rows a statement: rows, results and change log as one row a statement (seed ${seed})`, async () => {
        const random = seededRandom(seed);
        const pages = randomPages(random);
        const model = new Map<string, ModelRow>();
        const expected = pages.map((page) => applyToModel(model, page));
        const dir = makeTempDir('page-writer-batches-');
        try {
            const batched = await writeAll(join(dir, 'batched.db'), pages);
            const rowByRow = await writeAll(join(dir, 'row-by-row.db'), pages, { otherRowid: HIGHEST_ROWID });
            // 20-49 rowids below the highest: the pages' 50 records (and those a hard delete brings
            // back) run into it, and a page of that many rows or more goes one row a statement.
            const otherRowid = HIGHEST_ROWID - 20n - BigInt(random.int(30));
            const nearTop = await writeAll(join(dir, 'near-top.db'), pages, { otherRowid });
            const unlogged = await writeAll(join(dir, 'unlogged.db'), pages, { logging: false });
            const sorted = (rows: Map<string, ModelRow>) => new Map([...rows].sort(([a], [b]) => (a < b ? -1 : 1)));
            for (const [name, written] of [['batched', batched], ['row by row', rowByRow], ['near the highest rowid', nearTop], ['change log off', unlogged]] as const) {
                assert.deepEqual(written.results, expected, `${name}: page results`);
                assert.deepEqual(sorted(written.rows), sorted(model), `${name}: stored rows`);
                assert.equal(written.cursor, `page-${pages.length - 1}`);
            }
            assert.ok(batched.changes.length > 100, `a log worth comparing (${batched.changes.length} changes)`);
            for (const [name, written] of [['row by row', rowByRow], ['near the highest rowid', nearTop]] as const) {
                assert.deepEqual(byRecord(written.changes), byRecord(batched.changes), `${name}: each record logs the same changes in the same order`);
            }
            assert.deepEqual(unlogged.changes, []);
            assert.ok(nearTop.maxRowid > otherRowid, 'near the highest rowid, the pull inserted above the other row');
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
}
