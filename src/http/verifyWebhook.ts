import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookVerification =
    | { ok: true; scheme: 'hmac-sha256' | 'legacy-sha256'; keyIndex: number }
    | { ok: false; code: 'missing_signature' | 'invalid_signature' };

export interface VerifyOptions {
    /** Every key accepted: during a rotation Nango signs with the old and the new one for up to 5 minutes. */
    keys: readonly string[];
    /** Also accept `X-Nango-Signature` = sha256(key + body), which is open to length extension. */
    acceptLegacy: boolean;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Checks Nango's signature over the exact bytes received — never a re-serialized body (protocol §2.2).
 * Pure: raw bytes, headers and keys in, a verdict out; comparisons are constant-time.
 */
export function verifyWebhook(
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
    options: VerifyOptions,
): WebhookVerification {
    const hmac = single(headers['x-nango-hmac-sha256']);
    const legacy = options.acceptLegacy ? single(headers['x-nango-signature']) : undefined;
    if (hmac === undefined && legacy === undefined) return { ok: false, code: 'missing_signature' };

    if (hmac !== undefined && HEX64.test(hmac)) {
        const given = Buffer.from(hmac, 'hex');
        for (const [i, key] of options.keys.entries()) {
            if (timingSafeEqual(createHmac('sha256', key).update(rawBody).digest(), given)) {
                return { ok: true, scheme: 'hmac-sha256', keyIndex: i };
            }
        }
    }
    if (legacy !== undefined && HEX64.test(legacy)) {
        const given = Buffer.from(legacy, 'hex');
        for (const [i, key] of options.keys.entries()) {
            const expected = createHash('sha256').update(key).update(rawBody).digest();
            if (timingSafeEqual(expected, given)) return { ok: true, scheme: 'legacy-sha256', keyIndex: i };
        }
    }
    return { ok: false, code: 'invalid_signature' };
}

function single(value: string | string[] | undefined): string | undefined {
    // A repeated header arrives as an array (or joined); neither is a signature Nango sent.
    return typeof value === 'string' ? value.trim() : undefined;
}
