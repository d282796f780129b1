import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLine } from './harness.js';

export interface DaemonProcess {
    proc: ChildProcess;
    url: string;
    /** The operator listener (`server.adminPort`), from the start-up line. */
    adminUrl: string;
    logs: LogLine[];
    /** Raw stdout+stderr, for secret-leak checks. */
    output(): string;
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export function writeConfig(dir: string, config: unknown, name = 'config.json'): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
}

/** Runs the real CLI (`nango-mirror serve`) in its own process, so it can be SIGKILLed. */
export async function spawnDaemon(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<DaemonProcess> {
    const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--config', configPath], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: LogLine[] = [];
    let raw = '';
    let buffered = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const { url, adminUrl } = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`daemon did not start in 20 s:\n${raw}`)), 20_000);
        proc.stdout.on('data', (chunk: Buffer) => {
            raw += chunk.toString();
            buffered += chunk.toString();
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
                const line = buffered.slice(0, nl);
                buffered = buffered.slice(nl + 1);
                try {
                    const parsed = JSON.parse(line) as LogLine;
                    logs.push(parsed);
                    if (parsed.msg === 'nango-mirror is running') {
                        clearTimeout(timer);
                        resolve({ url: `http://127.0.0.1:${String(parsed['port'])}`, adminUrl: `http://127.0.0.1:${String(parsed['adminPort'])}` });
                    }
                } catch {
                    // not a log line
                }
            }
        });
        proc.stderr.on('data', (chunk: Buffer) => {
            raw += chunk.toString();
        });
        void exited.then(({ code }) => {
            clearTimeout(timer);
            reject(new Error(`daemon exited with ${code} before it started:\n${raw}`));
        });
    });
    return {
        proc,
        url,
        adminUrl,
        logs,
        output: () => raw,
        exited,
        kill(signal = 'SIGKILL') {
            proc.kill(signal);
            return exited;
        },
    };
}
