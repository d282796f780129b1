/** What the mirror pulls and stores a cursor for: one (integration, connection, model, variant). */
export interface SyncKey {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    /** `base` unless the sync is a variant. */
    variant: string;
}

export const BASE_VARIANT = 'base';

/** A stable string for maps and logs; JSON so no separator can collide with an id. */
export function keyString(key: SyncKey): string {
    return JSON.stringify([key.providerConfigKey, key.connectionId, key.model, key.variant]);
}

export function describeKey(key: SyncKey): string {
    const v = key.variant === BASE_VARIANT ? '' : `::${key.variant}`;
    return `${key.providerConfigKey}/${key.connectionId}/${key.model}${v}`;
}
