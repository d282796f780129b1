import { setTimeout as sleep } from 'node:timers/promises';
import type { KeyStatus } from '../domain/keyState.js';
import type { KeyStates } from '../storage/store.js';
import type { SyncKey } from '../domain/syncKey.js';

export type WaitOutcome =
    | { ok: true; status: KeyStatus }
    | { ok: false; code: 'pull_failed' | 'connection_gone' | 'wait_timeout'; message: string; status?: KeyStatus };

/**
 * Waits until a pull that started after request `requestSeq` has committed to the end
 * (done_seq ≥ requestSeq), whichever daemon ran it: the mirror is then current as of the request.
 * Fails as soon as the key is recorded failed or gone after the request.
 */
export async function waitForPull(keys: Pick<KeyStates, 'getKeyStatus'>, key: SyncKey, requestSeq: number, options: { timeoutMs: number; pollMs?: number; signal?: AbortSignal }): Promise<WaitOutcome> {
    const deadline = Date.now() + options.timeoutMs;
    const cheap = { counts: false };
    const seenFailures = (await keys.getKeyStatus(key, cheap))?.consecutiveFailures ?? 0;
    for (;;) {
        const status = await keys.getKeyStatus(key, cheap);
        if (status && status.doneSeq >= requestSeq) return { ok: true, status: (await keys.getKeyStatus(key)) ?? status };
        if (status?.status === 'gone') return { ok: false, code: 'connection_gone', message: status.lastError ?? 'Nango does not know this connection.', status };
        if (status?.status === 'failed' && status.consecutiveFailures > seenFailures) {
            return { ok: false, code: 'pull_failed', message: `${status.lastErrorCode ?? 'error'}: ${status.lastError ?? 'the pull failed'}`, status };
        }
        if (Date.now() > deadline) return { ok: false, code: 'wait_timeout', message: `No pull covered the request within ${Math.round(options.timeoutMs / 1000)} s.`, ...(status ? { status } : {}) };
        await sleep(options.pollMs ?? 100, undefined, options.signal ? { signal: options.signal } : {});
    }
}
