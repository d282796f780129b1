import { createHash } from 'node:crypto';

/**
 * JSON with every object's keys sorted (recursively); arrays keep their order. Two values that
 * differ only in key order (a schema that went through Postgres `jsonb`, or another serializer)
 * give the same text. `undefined` members are left out, as `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
    return JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
        const sorted: Record<string, unknown> = {};
        for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
        return sorted;
    });
}

/** The first `hexChars` hex digits of sha256(text): a short, stable fingerprint (not a secret). */
export function shortSha256(text: string, hexChars: number): string {
    return createHash('sha256').update(text).digest('hex').slice(0, hexChars);
}
