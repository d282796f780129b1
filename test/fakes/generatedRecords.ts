/**
 * Deterministic synthetic records for benchmarks: record `i` rendered by the fake
 * (payload + `_nango_metadata`) is about `recordBytes` long. Numeric ids exercise the
 * number → string id conversion; `version` changes the payload so a re-save is an UPDATE.
 */
import type { RecordInput } from './fakeRecordStore.js';

/** Approximate length of the rendered `,"_nango_metadata":{…}}` suffix. */
const METADATA_BYTES = 290;
const FILLER = 'lorem-ipsum-dolor-sit-amet-consectetur-adipiscing-elit-sed-do-eiusmod-'.repeat(200);

export function generatedRecord(i: number, recordBytes = 1000, version = 0): RecordInput {
    const record: RecordInput = {
        id: i,
        name: `Record ${i}`,
        email: `user${i}@example.com`,
        amount: (i * 37) % 10_000,
        active: i % 3 !== 0,
        version,
        notes: ''
    };
    const used = JSON.stringify(record).length + METADATA_BYTES;
    const fillerLength = Math.max(0, Math.min(FILLER.length - 64, recordBytes - used));
    const offset = i % 64;
    record['notes'] = FILLER.slice(offset, offset + fillerLength);
    return record;
}
