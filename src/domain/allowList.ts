import type { SyncKey } from './syncKey.js';

/** One entry of the `models` allow-list, as far as deciding what to mirror goes. */
export interface AllowEntry {
    providerConfigKey: string;
    model: string;
    /** Omitted: every variant of the model. */
    variant?: string | undefined;
}

/** Whether the `models` allow-list lets this key be mirrored (an empty list allows all). */
export function isAllowed(key: SyncKey, allowList: readonly AllowEntry[]): boolean {
    if (allowList.length === 0) return true;
    return allowList.some(
        (e) => e.providerConfigKey === key.providerConfigKey && e.model === key.model && (e.variant === undefined || e.variant === key.variant),
    );
}
