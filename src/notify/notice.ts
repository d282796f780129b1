import { createHmac } from 'node:crypto';
import type { DaemonEventMap } from '../domain/daemonEvents.js';

/** The header that carries HMAC-SHA256(notify.signingKey, raw body) as lowercase hex. */
export const NOTICE_SIGNATURE_HEADER = 'X-Nango-Mirror-Hmac-Sha256';

/** What the app receives after each committed page: the POST body and the NOTIFY payload. */
export interface Notice {
    providerConfigKey: string;
    connectionId: string;
    model: string;
    variant: string;
    /** Rows the page changed: POSTs count the page's change-log entries (added, updated, undeleted); NOTIFY the rows the page wrote (a re-read of the same version counts). */
    upserted: number;
    /** Rows deleted by the page (POSTs: its `deleted` and `swept` changes). */
    deleted: number;
    /** NOTIFY: the key's stored cursor once the page committed. POST: the key's stored cursor when the notice was sent (the log keeps no cursor per page). */
    cursor: string;
    /** When the page's transaction committed, `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
    committedAt: string;
    /** POSTs only: the page's first and last change in `nango_changes` (a redelivered notice has the same ones). */
    fromSeq?: number;
    toSeq?: number;
}

export type PageCommitted = DaemonEventMap['pageCommitted'][0];

/** The notice for a committed page, serialized once: the exact bytes that are signed, sent and NOTIFYed. */
export function noticeBody(page: PageCommitted): string {
    const notice: Notice = {
        providerConfigKey: page.key.providerConfigKey,
        connectionId: page.key.connectionId,
        model: page.key.model,
        variant: page.key.variant,
        upserted: page.upserted,
        deleted: page.deleted,
        cursor: page.cursor,
        committedAt: page.committedAt,
    };
    return JSON.stringify(notice);
}

/** HMAC-SHA256(signingKey, body) as lowercase hex; the app computes the same over the raw body it received. */
export function signNotice(body: string | Buffer, signingKey: string): string {
    return createHmac('sha256', signingKey).update(body).digest('hex');
}
