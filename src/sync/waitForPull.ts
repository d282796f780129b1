import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyStatus, MirrorStore } from '../storage/mirrorStore.js';
import type { SyncKey } from './syncKey.js';

export type WaitOutcome =
    | { ok: true; status: KeyStatus }
    | { ok: false; code: 'pull_failed' | 'connection_gone' | 'wait_timeout'; message: string; status?: KeyStatus };

/**
 * Waits until a pull that started after request `requestSeq` has committed to the end
 * (done_seq ≥ requestSeq), whichever daemon ran it: the mirror is then current as of the request.
 * Fails as soon as the key is recorded failed or gone after the request.
 */
export async function waitForPull(store: MirrorStore, key: SyncKey, requestSeq: number, options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal }): Promise<WaitOutcome> {
    const deadline = Date.now() + options.timeoutMs;
    const cheap = { counts: false };
    const seenFailures = (await store.listKeyStatus(key, cheap))[0]?.consecutiveFailures ?? 0;
    for (;;) {
        const status = (await store.listKeyStatus(key, cheap))[0];
        if (status && status.doneSeq >= requestSeq) return { ok: true, status: (await store.listKeyStatus(key))[0] ?? status };
        if (status?.status === 'gone') return { ok: false, code: 'connection_gone', message: status.lastError ?? 'Nango does not know this connection.', status };
        if (status?.status === 'failed' && status.consecutiveFailures > seenFailures) {
            return { ok: false, code: 'pull_failed', message: `${status.lastErrorCode ?? 'error'}: ${status.lastError ?? 'the pull failed'}`, status };
        }
        if (Date.now() > deadline) return { ok: false, code: 'wait_timeout', message: `No pull covered the request within ${Math.round(options.timeoutMs / 1000)} s.`, ...(status ? { status } : {}) };
        await sleep(options.pollMs ?? 100, undefined, options.signal ? { signal: options.signal } : {});
    }
}
