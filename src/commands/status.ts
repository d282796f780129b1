import type { Config } from '../config/schema.js';
import { cursorTime } from '../nango/cursor.js';
import { isPending, shownState, type KeyState, type KeyStatus } from '../domain/keyState.js';
import { openStore } from '../storage/openStore.js';
import { BASE_VARIANT, describeKey, keyString } from '../domain/syncKey.js';

export interface StatusRow extends KeyStatus {
    key: string;
    /** Seconds between now and the last record the cursor points at; null before the first page. */
    cursorAgeSeconds: number | null;
    lastSuccessAgeSeconds: number | null;
    /** Counted by `nango_mirror_count_drift_keys`: live rows at the last pull's end disagree with Nango's count. */
    countDrift: boolean;
}

export interface StatusOptions {
    json: boolean;
    /**
     * With `json`: print `{keys, views}` (the keys' array and the generated views) instead of the
     * keys' array alone, which stays `status --json`'s shape for scripts that read it.
     */
    views?: boolean;
    /** Only keys of this integration (providerConfigKey). */
    integration?: string | undefined;
    /** Only keys of this connection. */
    connection?: string | undefined;
    /** Only keys shown in this state (`pending` includes `ok` keys with a request no pull covers yet). */
    status?: KeyState | undefined;
}

/** `nango-mirror status [--json] [--integration i] [--connection c] [--status s]`: one row per key, read from the database (the daemon may be running). */
export async function statusCommand(config: Config, options: StatusOptions, out: (line: string) => void = console.log): Promise<number> {
    const store = await openStore(config.database);
    try {
        await store.schema.checkReady();
        const now = Date.now();
        const age = (iso: string | null) => (iso ? Math.max(0, Math.round((now - Date.parse(iso)) / 1000)) : null);
        const wanted = (s: KeyStatus) =>
            (options.integration === undefined || s.providerConfigKey === options.integration) &&
            (options.connection === undefined || s.connectionId === options.connection) &&
            (options.status === undefined || shownState(s.status, isPending(s)) === options.status);
        const all = await store.keys.listKeyStatus();
        const drifting = new Set((await store.keys.listCountDrift(all.length)).map(keyString));
        const rows: StatusRow[] = all.filter(wanted).map((s) => ({
            key: describeKey(s),
            ...s,
            cursorAgeSeconds: age(cursorTime(s.cursor)),
            lastSuccessAgeSeconds: age(s.lastSuccessAt),
            countDrift: drifting.has(keyString(s)),
        }));
        const views = (await store.schema.listGeneratedViews()).map(({ spec: _spec, ...v }) => v);
        if (options.json) {
            out(JSON.stringify(options.views ? { keys: rows, views } : rows, null, 2));
            return 0;
        }
        if (rows.length === 0) out('No keys yet: the mirror has not received a webhook (or discovery is off).');
        else printTable(rows, out);
        if (views.length > 0) {
            out('');
            out("Typed views from Nango's schemas (each with a <name>_all companion that keeps deleted rows):");
            printColumns(
                [['VIEW', 'INTEGRATION', 'MODEL', 'SCHEMA VERSION', 'SYNC', 'SYNC VERSION'], ...views.map((v) => [v.name, v.providerConfigKey, v.model, v.schemaVersion, v.syncName, v.syncVersion ?? '-'])],
                out,
            );
        }
        return 0;
    } finally {
        await store.close();
    }
}

function printTable(rows: StatusRow[], out: (line: string) => void): void {
    const table = [
        ['KEY', 'STATUS', 'NANGO', 'CURSOR AGE', 'LAST SUCCESS', 'ROWS', 'DELETED', 'NANGO ROWS', 'FAILURES', 'LAST ERROR'],
        ...rows.map((r) => [
            r.key,
            shownState(r.status, isPending(r)),
            r.nangoSyncStatus ?? '-',
            duration(r.cursorAgeSeconds),
            r.lastSuccessAt ? `${duration(r.lastSuccessAgeSeconds)} ago` : 'never',
            String(r.liveRows),
            String(r.deletedRows),
            nangoRows(r),
            String(r.consecutiveFailures),
            r.lastError ? `${r.lastErrorCode ?? ''} ${r.lastError}`.trim().slice(0, 80) : '',
        ]),
    ];
    printColumns(table, out);
}

function printColumns(table: string[][], out: (line: string) => void): void {
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

/** Nango's record count, for base variants only (Nango reports a variant's base count); a drifting key also shows the live rows its last pull left. */
function nangoRows(r: StatusRow): string {
    if (r.variant !== BASE_VARIANT || r.nangoRecordCount === null) return '-';
    return r.countDrift ? `${r.nangoRecordCount} (drift: ${r.liveRowsAtFinish ?? '-'} at last pull)` : String(r.nangoRecordCount);
}

function duration(seconds: number | null): string {
    if (seconds === null) return '-';
    if (seconds < 120) return `${seconds}s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
    if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
    return `${Math.round(seconds / 86_400)}d`;
}
