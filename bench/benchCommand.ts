// What a bench command does around its measurement: read its options, run once per engine (Postgres
// skipped loudly when it does not answer: a SKIP, not a miss), print a table per engine, write the
// result to .bench/<name>.json, and end with a summary and an exit code (1 on any miss).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { postgresAnswers } from './ingestPostgres.js';
import type { Engine } from './shared.js';

/** The database the Postgres runs use (the same one `npm test` and the ingest bench use). */
export const POSTGRES_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export const ENGINE_NAME: Record<Engine, string> = { sqlite: 'SQLite', postgres: 'Postgres' };

export const machine = (): string => `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;

export class UsageError extends Error {
    override name = 'UsageError';
}

/** Reads a command's options with `read`; a bad option prints why and exits 2. */
export function readOptions<T>(read: () => T): T {
    try {
        return read();
    } catch (err) {
        // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options.
        if (err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
            console.error((err as Error).message);
            process.exit(2);
        }
        throw err;
    }
}

/** The value of `--option` as an integer of at least `min`. */
export function intOption(option: string, value: string | undefined, min = 1): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`Expected \`--${option}\` to be an integer of at least ${min}, got \`${value}\``);
    return n;
}

/** `sqlite`, `postgres` or `all` (both, SQLite first). */
export function parseEngines(value: string | undefined): Engine[] {
    if (value === 'all') return ['sqlite', 'postgres'];
    if (value === 'sqlite' || value === 'postgres') return [value];
    throw new UsageError(`Expected \`--engine\` to be sqlite, postgres or all, got \`${value}\``);
}

/** Rows of (what, figure, target or note), aligned. */
export function printRows(rows: Array<[string, string, string]>): void {
    const a = Math.max(...rows.map((r) => r[0].length));
    const b = Math.max(...rows.map((r) => r[1].length));
    for (const [what, figure, note] of rows) console.log(`  ${what.padEnd(a)}  ${figure.padStart(b)}   ${note}`.trimEnd());
}

export function writeResult(name: string, result: object): void {
    mkdirSync('.bench', { recursive: true });
    writeFileSync(`.bench/${name}.json`, `${JSON.stringify({ ...result, machine: machine(), at: new Date().toISOString() }, null, 2)}\n`);
}

export interface EngineVerdict {
    ok: boolean;
    /** One line for the summary: the figures against their targets. */
    line: string;
}

/** Runs `run` on each engine in turn; an engine whose run throws is a FAIL, and the others still run. */
export async function runOnEngines(engines: Engine[], run: (engine: Engine) => Promise<EngineVerdict>): Promise<number> {
    const summary: Array<{ engine: Engine; status: 'PASS' | 'FAIL' | 'SKIP'; line: string }> = [];
    for (const engine of engines) {
        if (engine === 'postgres') {
            const answer = await postgresAnswers(POSTGRES_URL);
            if (!answer.ok) {
                console.log(`\n*** SKIP postgres: no Postgres answers at ${POSTGRES_URL} (${answer.error}); set TEST_POSTGRES_URL. THE POSTGRES RUN DID NOT HAPPEN. ***`);
                summary.push({ engine, status: 'SKIP', line: `Postgres does not answer at ${POSTGRES_URL}` });
                continue;
            }
        }
        try {
            const verdict = await run(engine);
            summary.push({ engine, status: verdict.ok ? 'PASS' : 'FAIL', line: verdict.line });
        } catch (err) {
            console.error(err);
            summary.push({ engine, status: 'FAIL', line: `the run failed: ${(err as Error).message}` });
        }
    }
    console.log('\nsummary:');
    for (const s of summary) console.log(`  ${s.engine.padEnd(9)} ${s.status}  ${s.line}`);
    const ok = summary.every((s) => s.status !== 'FAIL');
    const skipped = summary.filter((s) => s.status === 'SKIP').map((s) => s.engine);
    console.log(ok ? `PASS${skipped.length > 0 ? ` (SKIPPED: ${skipped.join(', ')})` : ''}` : 'FAIL');
    return ok ? 0 : 1;
}
