/** A record's `_nango_metadata` as Nango renders it (protocol §4.2), with fields overridden. */
export function recordMetadata(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        first_seen_at: '2026-04-14T18:46:03.097459+00:00',
        last_modified_at: '2026-04-14T18:46:03.5+00:00',
        last_action: 'UPDATED',
        deleted_at: null,
        pruned_at: null,
        cursor: 'Y3Vyc29y',
        ...over,
    };
}
