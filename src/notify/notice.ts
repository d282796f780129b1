import { createHmac } from 'node:crypto';

/** The header that carries HMAC-SHA256(notify.signingKey, raw body) as lowercase hex. */
export const NOTICE_SIGNATURE_HEADER = 'X-Nango-Mirror-Hmac-Sha256';

/** What the app receives for each committed page: the POST body (from the change log) and the NOTIFY payload (sent in the page's transaction). */
export interface Notice {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
    /** NOTIFY: rows the page wrote (a re-read of the same version counts). POST: the key's `added`, `updated` and `undeleted` changes the notice sums up. */
    upserted: number;
    /** NOTIFY: rows the page deleted. POST: the key's `deleted` and `swept` changes the notice sums up. */
    deleted: number;
    /** NOTIFY: the key's stored cursor once the page committed. POST: the key's stored cursor when the notice was sent (the log keeps no cursor per page). */
    cursor: string;
    /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`. NOTIFY: taken in the page's transaction just before its commit. POST: the last summed change's `committed_at` in the log. */
    committedAt: string;
    /** POSTs only: the first and last seq in `nango_changes` of the changes the notice sums up (other keys' may lie between). */
    fromSeq?: number;
    toSeq?: number;
}

/** HMAC-SHA256(signingKey, body) as lowercase hex; the app computes the same over the raw body it received. */
export function signNotice(body: string | Buffer, signingKey: string): string {
    return createHmac('sha256', signingKey).update(body).digest('hex');
}
