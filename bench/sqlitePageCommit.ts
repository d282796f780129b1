// `npx tsx bench/sqlitePageCommit.ts`: the SQLite page writer alone (src/storage/sqlite/pageWriter.ts,
// no daemon, no HTTP, no other thread), against the ingest bench's ceiling statement (one prepared
// upsert a row, bench/ingest.ts), on the same rows: SPB_PAGES pages of 1,000 new ~1 KB records, each
// in a fresh file made by the daemon's migrations, synchronous NORMAL and no checkpoints for both (so
// only the statements and the commit are timed). Modes alternate order each round; prints each
// mode's median wall and CPU ms a page. Modes (SPB_MODES, comma-separated): `writer` (change log on, as shipped),
// `writer-nolog` (changes.enabled false), `ceiling`.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordRow } from '../src/domain/recordRow.js';
import { openSqliteConnection } from '../src/storage/sqlite/connection.js';
import { openSqliteStore } from '../src/storage/sqlite/openSqliteStore.js';
import { createPageWriter } from '../src/storage/sqlite/pageWriter.js';
import { makeTempDir } from '../test/helpers/harness.js';
import { CEILING_UPSERT } from './ingest.js';
import { median } from './stats.js';
import { ceilingRows, KEY, PAGE_SIZE } from './shared.js';

const pages = Number(process.env['SPB_PAGES'] ?? 100);
const rounds = Number(process.env['SPB_ROUNDS'] ?? 7);
const modes = (process.env['SPB_MODES'] ?? 'writer,writer-nolog,ceiling').split(',');

const rowPages = Array.from({ length: pages }, (_, p) => ceilingRows(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
const recordPages: RecordRow[][] = rowPages.map((rows) =>
    rows.map((r) => ({ id: r[4] as string, data: r[5] as string, keepData: false, lastAction: 'ADDED', deletedAt: null, prunedAt: null, firstSeenAt: r[9] as string, lastModifiedAt: r[10] as string, cursor: r[11] as string })),
);

async function measure(mode: string, dir: string): Promise<{ wall: number; cpu: number }> {
    const path = join(dir, `${mode}.db`);
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    const store = openSqliteStore({ path });
    await store.schema.migrate();
    await store.requests.requestPulls([KEY], new Date().toISOString());
    if (mode === 'writer-nolog') await store.changes.setChangeLogEnabled(false);
    await store.close();
    const conn = openSqliteConnection(path);
    const { db } = conn;
    try {
        db.pragma('synchronous = NORMAL');
        db.pragma('wal_autocheckpoint = 0');
        let write: (p: number) => void;
        if (mode === 'ceiling') {
            const upsert = db.prepare(CEILING_UPSERT);
            const writePage = db.transaction((rows: unknown[][]) => {
                for (const r of rows) upsert.run(...r);
            });
            write = (p) => writePage(rowPages[p]!);
        } else {
            const writer = createPageWriter(conn);
            const at = new Date().toISOString();
            write = (p) => writer(KEY, { rows: recordPages[p]!, cursor: `c${p}`, deletes: 'soft', syncedAt: at, pullStartedAt: at });
        }
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        for (let p = 0; p < pages; p++) write(p);
        const cpu = process.cpuUsage(cpu0);
        return { wall: (performance.now() - t0) / pages, cpu: (cpu.user + cpu.system) / 1000 / pages };
    } finally {
        await conn.close();
    }
}

const dir = makeTempDir('sqlite-page-commit-');
const results = new Map<string, { wall: number; cpu: number }[]>(modes.map((m) => [m, []]));
try {
    for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? modes : [...modes].reverse();
        for (const mode of order) results.get(mode)!.push(await measure(mode, dir));
    }
} finally {
    rmSync(dir, { recursive: true, force: true });
}
console.log(`SQLite page writer alone: ${pages} pages of ${PAGE_SIZE} new ~1 KB records, ${rounds} rounds, ms a page (wall; CPU, the steadier on a shared machine)`);
for (const [mode, ms] of results) {
    const wall = ms.map((x) => x.wall);
    const cpu = ms.map((x) => x.cpu);
    console.log(`  ${mode.padEnd(13)} wall median ${median(wall).toFixed(2)} (${wall.map((x) => x.toFixed(2)).join(' ')}); CPU median ${median(cpu).toFixed(2)} (${cpu.map((x) => x.toFixed(2)).join(' ')})`);
}
