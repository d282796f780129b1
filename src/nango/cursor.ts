import { toMicroIso } from '../domain/timestamps.js';

/**
 * The record time inside a Nango cursor: base64(`<updated_at>||<uuid>`) (protocol §4.3). For
 * display only ("cursor age"); the daemon never builds or edits cursors. Null if it does not decode.
 */
export function cursorTime(cursor: string | null): string | null {
    if (!cursor) return null;
    const parts = Buffer.from(cursor, 'base64').toString('utf8').split('||');
    if (parts.length !== 2 || !parts[0]) return null;
    try {
        return toMicroIso(parts[0]);
    } catch {
        return null;
    }
}
