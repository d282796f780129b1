import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/lib/logger.js';
import { startDaemon, type Daemon, type DaemonOptions } from '../../src/main.js';
import { toMicroIso } from '../../src/domain/timestamps.js';
import { FakeNango } from '../fakes/fakeNango.js';
import type { StoreKey } from '../fakes/fakeRecordStore.js';
import { postWebhook, syncSuccessBody } from '../fakes/webhooks.js';
import { createTestDatabase, type EngineName, type MirrorReader, type TestDatabase } from './engines.js';

export const API_KEY = '6f1c3c52-8a7e-4b8e-9f61-1f0f3c1d2a10';
export const SIGNING_KEY = '00000000-0000-4000-8000-000000000000';

export interface TestKey {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
}

export interface LogLine {
    level: number;
    msg: string;
    [field: string]: unknown;
}

export interface MirrorRow {
    provider_config_key: string;
    connection_id: string;
    model: string;
    variant: string;
    id: string;
    data: string;
    last_action: string;
    deleted_at: string | null;
    pruned_at: string | null;
    first_seen_at: string;
    last_modified_at: string;
    cursor: string;
    synced_at: string;
}

export interface SyncStateRow {
    cursor: string | null;
    status: string;
    request_seq: number;
    done_seq: number;
    last_error: string | null;
    last_error_code: string | null;
    consecutive_failures: number;
    nango_sync_error: string | null;
    records_pulled_total: number;
    last_pull_records: number;
    last_pull_pages: number;
    pull_requested_at: string | null;
    pull_started_at: string | null;
    last_success_at: string | null;
    next_attempt_at: string | null;
}

export function makeTempDir(prefix = 'nango-mirror-test-'): string {
    return mkdtempSync(join(tmpdir(), prefix));
}

export function testKey(model = 'Contact', connectionId = 'conn-1', variant = 'base', providerConfigKey = 'hubspot'): TestKey {
    return { providerConfigKey, connectionId, model, variant };
}

export function fakeKey(key: TestKey): StoreKey {
    return { providerConfigKey: key.providerConfigKey, connectionId: key.connectionId, model: key.model, variant: key.variant };
}

/**
 * Test config: real ports (0, both listeners), the test database, fast retries, reconcile and the typed views off
 * unless asked (the views read `/scripts/config`, and most tests count Nango's requests).
 */
export function testConfig(nangoUrl: string, database: TestDatabase['database'], overrides: Record<string, unknown> = {}): Config {
    const base = {
        nango: { host: nangoUrl, apiKey: API_KEY, webhookSigningKey: SIGNING_KEY },
        server: { host: '127.0.0.1', port: 0, adminPort: 0 },
        database,
        sync: { reconcileIntervalSeconds: 0, requestTimeoutSeconds: 5, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, failedPullDelayMs: 60_000 }, views: { auto: false } },
        logLevel: 'debug',
    };
    return parseConfig(deepMerge(base, overrides));
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
        const prev = out[k];
        out[k] = isPlain(prev) && isPlain(v) ? deepMerge(prev, v) : v;
    }
    return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export interface Harness {
    engine: EngineName;
    fake: FakeNango;
    daemon: Daemon;
    config: Config;
    dir: string;
    database: TestDatabase;
    logs: LogLine[];
    /** The mirror as the app sees it (read-only queries, plus exec for fault injection). */
    reader: MirrorReader;
    webhookUrl: string;
    /** The operator listener: status page, `/status.json`, `/metrics`, admin API. */
    adminUrl: string;
    sendSync(key: TestKey, signingKey?: string): Promise<{ status: number; json: unknown }>;
    /** Waits until no pull is queued or running and every stored request is covered. */
    waitIdle(timeoutMs?: number): Promise<void>;
    rows(key: TestKey): Promise<MirrorRow[]>;
    row(key: TestKey, id: string): Promise<MirrorRow | undefined>;
    state(key: TestKey): Promise<SyncStateRow | undefined>;
    stateCount(): Promise<number>;
    /** Restarts the daemon on the same database and fake (a clean stop, not a crash). */
    restart(overrides?: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
}

export interface HarnessOptions {
    engine?: EngineName;
    config?: Record<string, unknown>;
    /** Keep using this fake (e.g. across harnesses); else a new one is started. */
    fake?: FakeNango;
    /** Daemon options besides the logger (which the harness keeps, to read the logs). */
    daemon?: Omit<DaemonOptions, 'logger'>;
}

const KEY_WHERE = 'provider_config_key = ? AND connection_id = ? AND model = ? AND variant = ?';
const keyArgs = (k: TestKey) => [k.providerConfigKey, k.connectionId, k.model, k.variant];

/** Reads one key's rows and state through any reader (harness or a bare database). */
export function mirrorQueries(reader: MirrorReader) {
    return {
        rows: (key: TestKey) => reader.all<MirrorRow>(`SELECT * FROM nango_records WHERE ${KEY_WHERE} ORDER BY id`, ...keyArgs(key)),
        row: async (key: TestKey, id: string) => (await reader.all<MirrorRow>(`SELECT * FROM nango_records WHERE ${KEY_WHERE} AND id = ?`, ...keyArgs(key), id))[0],
        state: async (key: TestKey) => (await reader.all<SyncStateRow>(`SELECT * FROM nango_sync_state WHERE ${KEY_WHERE}`, ...keyArgs(key)))[0],
    };
}

/** Waits until no pull is queued or running and every stored request is covered (failed and gone keys aside). */
export async function waitDaemonIdle(daemon: Daemon, reader: MirrorReader, timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => {
        if (daemon.scheduler.activeCount > 0) return false;
        const [pending] = await reader.all<{ n: number }>("SELECT count(*) AS n FROM nango_sync_state WHERE request_seq > done_seq AND status NOT IN ('gone', 'failed')");
        return Number(pending?.n) === 0 && daemon.scheduler.activeCount === 0;
    }, timeoutMs, 'the daemon to go idle');
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
    const engine = options.engine ?? 'sqlite';
    const dir = makeTempDir();
    const database = await createTestDatabase(engine, dir);
    const fake = options.fake ?? new FakeNango({ apiKey: API_KEY });
    const nangoUrl = fake.baseUrl ?? (await fake.start());
    const logs: LogLine[] = [];
    const logger = createLogger('debug', {
        write(line: string) {
            logs.push(JSON.parse(line) as LogLine);
        },
    });
    let config = testConfig(nangoUrl, database.database, options.config);
    let daemon = await startDaemon(config, { ...options.daemon, logger });
    const reader = database.reader();
    const queries = mirrorQueries(reader);

    const harness: Harness = {
        engine,
        fake,
        get daemon() {
            return daemon;
        },
        get config() {
            return config;
        },
        dir,
        database,
        logs,
        reader,
        get webhookUrl() {
            return `${daemon.url}${config.server.webhookPath}`;
        },
        get adminUrl() {
            return daemon.adminUrl;
        },
        sendSync(key, signingKey = SIGNING_KEY) {
            return postWebhook(harness.webhookUrl, syncSuccessBody({ ...key, variant: key.variant }), signingKey);
        },
        waitIdle: (timeoutMs = 15_000) => waitDaemonIdle(daemon, reader, timeoutMs),
        rows: queries.rows,
        row: queries.row,
        state: queries.state,
        async stateCount() {
            const [r] = await reader.all<{ n: number }>('SELECT count(*) AS n FROM nango_sync_state');
            return Number(r?.n);
        },
        async restart(overrides) {
            await daemon.stop();
            if (overrides) config = testConfig(nangoUrl, database.database, { ...options.config, ...overrides });
            daemon = await startDaemon(config, { ...options.daemon, logger });
        },
        async close() {
            await daemon.stop();
            await reader.close();
            await database.drop();
            if (!options.fake) await fake.stop();
            rmSync(dir, { recursive: true, force: true });
        },
    };
    return harness;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (await check()) return;
        if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
    }
}

/**
 * The mirror holds exactly what Nango holds for this key: every record with the same payload,
 * timestamps (to the microsecond) and cursor; deletes as tombstones (soft) or absent (hard).
 */
export async function assertMirrorExact(
    h: { fake: Pick<FakeNango, 'records'>; rows(key: TestKey): Promise<MirrorRow[]> | MirrorRow[] },
    key: TestKey,
    deletes: 'soft' | 'hard' = 'soft',
): Promise<void> {
    const expected = h.fake.records(fakeKey(key));
    const rows = new Map((await h.rows(key)).map((r) => [r.id, r]));
    for (const [id, rec] of expected) {
        const row = rows.get(id);
        if (rec.deleted && deletes === 'hard') {
            assert.equal(row, undefined, `record ${id} was deleted in Nango and must be gone (hard mode)`);
            continue;
        }
        assert.ok(row, `record ${id} is missing from the mirror`);
        assert.equal(row.last_modified_at, toMicroIso(rec.lastModifiedAt), `last_modified_at of ${id}`);
        assert.equal(row.cursor, rec.cursor, `cursor of ${id}`);
        assert.equal(row.deleted_at !== null, rec.deleted, `deleted_at of ${id}`);
        // Pruning does not move Nango's cursor (protocol §4.4), so a prune behind the stored cursor is
        // never seen, and the mirror rightly keeps the payload. Only a row the mirror marks pruned must be.
        if (row.pruned_at !== null) assert.ok(rec.pruned, `${id} is marked pruned but Nango has its payload`);
        assert.equal(row.last_action, rec.lastAction, `last_action of ${id}`);
        if (!rec.pruned && !rec.deleted && rec.payload) {
            assert.deepEqual(JSON.parse(row.data), { ...rec.payload, id }, `payload of ${id}`);
        }
        rows.delete(id);
    }
    assert.deepEqual([...rows.keys()], [], 'the mirror holds records Nango does not have');
}
