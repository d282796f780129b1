// Memory at scale (issue 5 item 5): one key holding N records of ~1 KB (a million by default),
// mirrored by the built daemon (its own process) from the fake Nango (its own process) after one
// signed webhook, on SQLite or Postgres. Reports the total rate, the rate per tenth of the records,
// the daemon's peak RSS, and whether the mirror ends with exactly N rows.
import { mkdirSync, rmSync } from 'node:fs';
import { createTestDatabase, type MirrorReader } from '../test/helpers/engines.js';
import { mirrorQueries } from '../test/helpers/harness.js';
import { KEY, PAGE_SIZE, runDaemon, spawnLoadedFake, type Engine } from './shared.js';

export interface ScaleWindow {
    /** The first record id of the window's first page. */
    from: number;
    records: number;
    seconds: number;
    rate: number;
}

export interface ScaleResult {
    engine: Engine;
    records: number;
    /** Rows in the mirror after the pull. */
    mirrorRows: number;
    /** Time to fill the fake Nango, not part of any rate. */
    loadSeconds: number;
    /** From the webhook's POST to the daemon's `pull finished` line. */
    seconds: number;
    rate: number;
    /** Of which the daemon spent this long in its page commits (its own `commitMs`). */
    commitSeconds: number;
    /** Consecutive windows of a tenth of the records each, then the last full one. */
    windows: ScaleWindow[];
    first: ScaleWindow;
    last: ScaleWindow;
    /** How much slower the last window is than the first, in % (negative: faster). */
    dropPercent: number;
    peakRssMb: number;
}

export async function benchScale(options: { engine: Engine; records: number; workDir: string }): Promise<ScaleResult> {
    const { engine, records, workDir } = options;
    rmSync(workDir, { recursive: true, force: true });
    mkdirSync(workDir, { recursive: true });
    const loadStarted = performance.now();
    const nango = await spawnLoadedFake(records);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    try {
        const db = await createTestDatabase(engine, workDir);
        const reader = db.reader();
        try {
            const daemon = await runDaemon(nango, workDir, db.database);
            const [counted] = await reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_records');
            const windows = await commitWindows(reader, records);
            const first = windows[0]!;
            const last = windows[windows.length - 1]!;
            return {
                engine,
                records,
                mirrorRows: Number(counted?.n),
                loadSeconds,
                seconds: daemon.seconds,
                rate: records / daemon.seconds,
                commitSeconds: daemon.commitSeconds,
                windows,
                first,
                last,
                dropPercent: (1 - last.rate / first.rate) * 100,
                peakRssMb: daemon.peakRssMb,
            };
        } finally {
            await reader.close();
            await db.drop();
        }
    } finally {
        await nango.stop();
        rmSync(workDir, { recursive: true, force: true });
    }
}

/**
 * The rate over each tenth of the pull, from timestamps the daemon already writes, so nothing is
 * added to the run being measured: every row's `synced_at` is the moment its page's commit began,
 * and page p holds ids p × PAGE_SIZE … (the fake saved them a page to a transaction). The window
 * from page p to page p + w is the w pages committed between those two moments.
 */
async function commitWindows(reader: MirrorReader, records: number): Promise<ScaleWindow[]> {
    const pages = Math.ceil(records / PAGE_SIZE);
    const perWindow = Math.max(1, Math.round(pages / 10));
    if (pages <= perWindow) throw new Error(`${records} records make ${pages} pages: too few for windows of ${perWindow} pages`);
    const starts: number[] = [];
    for (let p = 0; p + perWindow < pages; p += perWindow) starts.push(p);
    // The last full window ends at the last page; the others may stop short of it.
    const lastStart = pages - 1 - perWindow;
    if (starts[starts.length - 1] !== lastStart) starts.push(lastStart);
    const { row } = mirrorQueries(reader);
    const committedAt = new Map<number, number>();
    const commitOf = async (page: number): Promise<number> => {
        let at = committedAt.get(page);
        if (at === undefined) {
            const r = await row(KEY, String(page * PAGE_SIZE));
            if (!r) throw new Error(`record ${page * PAGE_SIZE} (page ${page}) is missing from the mirror`);
            at = Date.parse(r.synced_at);
            committedAt.set(page, at);
        }
        return at;
    };
    const windows: ScaleWindow[] = [];
    for (const p of starts) {
        const seconds = ((await commitOf(p + perWindow)) - (await commitOf(p))) / 1000;
        const n = perWindow * PAGE_SIZE;
        windows.push({ from: p * PAGE_SIZE, records: n, seconds, rate: n / seconds });
    }
    return windows;
}
