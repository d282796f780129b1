/**
 * Nango records cursor (protocol §4.3, `packages/records/lib/cursor.ts`):
 * base64(`${to_json(updated_at)}||${internal uuid}`), compared as a tuple, never expiring.
 */
import { parseOffsetDatetimeMicros, toPostgresJson } from './nangoTime.js';

export interface CursorPosition {
    /** updated_at of the last seen row, epoch microseconds. */
    micros: bigint;
    /** Internal record uuid, lowercased (Postgres compares uuids bytewise). */
    uuid: string;
}

// zod 4 `z.string().uuid()`: RFC 9562 versions 1-8 and variant bits, plus nil and max.
const ZOD_UUID =
    /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;

export function encodeCursor(updatedAtMicros: bigint, uuid: string): string {
    return Buffer.from(`${toPostgresJson(updatedAtMicros)}||${uuid}`).toString('base64');
}

/** Decodes like `Cursor.from`: lenient base64, exactly two `||` parts, offset datetime + uuid. */
export function decodeCursor(encoded: string): CursorPosition | undefined {
    const decoded = Buffer.from(encoded, 'base64').toString('ascii');
    const parts = decoded.split('||');
    if (parts.length !== 2) return undefined;
    const [sort, id] = parts as [string, string];
    if (!ZOD_UUID.test(id)) return undefined;
    const micros = parseOffsetDatetimeMicros(sort);
    if (micros === undefined) return undefined;
    return { micros, uuid: id.toLowerCase() };
}
