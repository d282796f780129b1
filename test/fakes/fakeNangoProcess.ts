/**
 * Parent-side helper for runFakeNango.ts: spawns the fake in its own process (own event loop,
 * own core) and speaks its JSON-lines control protocol.
 *
 *   const nango = await spawnFakeNango();
 *   await nango.call('addConnection', {providerConfigKey: 'hubspot', connectionId: 'c1'});
 *   await nango.call('saveGenerated', {key: {providerConfigKey: 'hubspot', connectionId: 'c1', model: 'Contact'}, count: 200_000});
 *   // … point the mirror at nango.baseUrl with nango.apiKey …
 *   await nango.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const DEFAULT_FAKE_API_KEY = '00000000-0000-4000-8000-00000000fa4e';

export interface SpawnFakeNangoOptions {
    apiKey?: string;
    port?: number;
    host?: string;
    maxLog?: number;
    /** Nango's clock against this machine's: the fake's timestamps (`finishedAt`, `updated_at` text) are shifted by it. @default 0 */
    clockOffsetMs?: number;
    /** Extra node flags; default raises the heap for million-record stores. */
    nodeArgs?: string[];
}

export interface FakeNangoProcess {
    baseUrl: string;
    apiKey: string;
    child: ChildProcess;
    call<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T>;
    stop(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '..', '..');

export async function spawnFakeNango(opts: SpawnFakeNangoOptions = {}): Promise<FakeNangoProcess> {
    const flags = ['--port', String(opts.port ?? 0), '--host', opts.host ?? '127.0.0.1', '--max-log', String(opts.maxLog ?? 1000)];
    if (opts.apiKey !== undefined) flags.push('--api-key', opts.apiKey);
    if (opts.clockOffsetMs !== undefined) flags.push('--clock-offset-ms', String(opts.clockOffsetMs));
    const nodeArgs = opts.nodeArgs ?? ['--max-old-space-size=4096'];
    // cwd = repo root so `--import tsx` resolves from the project's node_modules.
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(HERE, 'runFakeNango.ts'), ...flags], {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'inherit']
    });

    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    let nextId = 1;
    let exited = false;
    const exitPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    const ready = new Promise<{ ready: string; apiKey: string }>((resolve, reject) => {
        child.once('exit', (code) => {
            exited = true;
            const err = new Error(`fake nango process exited (code ${String(code)})`);
            reject(err);
            for (const p of pending.values()) p.reject(err);
            pending.clear();
        });
        createInterface({ input: child.stdout }).on('line', (line) => {
            const msg = JSON.parse(line) as { ready?: string; apiKey?: string; id?: number; ok?: boolean; result?: unknown; error?: string };
            if (msg.ready !== undefined) {
                resolve({ ready: msg.ready, apiKey: msg.apiKey ?? '' });
                return;
            }
            const p = msg.id === undefined ? undefined : pending.get(msg.id);
            if (!p || msg.id === undefined) return;
            pending.delete(msg.id);
            if (msg.ok) p.resolve(msg.result);
            else p.reject(new Error(msg.error ?? 'fake nango command failed'));
        });
    });
    const { ready: baseUrl, apiKey } = await ready;

    const call = <T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> => {
        if (exited) return Promise.reject(new Error('fake nango process has exited'));
        const id = nextId++;
        return new Promise<T>((resolve, reject) => {
            pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
            child.stdin.write(`${JSON.stringify({ id, cmd, args })}\n`);
        });
    };

    const stop = async (): Promise<void> => {
        if (exited) return;
        await call('stop').catch(() => undefined);
        child.stdin.end();
        await exitPromise;
    };

    return { baseUrl, apiKey, child, call, stop };
}
