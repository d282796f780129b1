import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { HttpError, sendError } from './httpError.js';

/** The status page's login cookie (set by `GET /login?token=…`). */
export const LOGIN_COOKIE = 'nango_mirror_login';

/** `admin.token` checks, compared in constant time (as digests, so lengths leak nothing). */
export interface TokenCheck {
    matches: (given: string) => boolean;
    /** `Authorization: Bearer <admin.token>`. */
    bearerMatches: (req: IncomingMessage) => boolean;
    /** The login cookie's value: derived from the token, so the cookie never holds the token itself. */
    cookieValue: string;
    /** A bearer token, or the login cookie. */
    bearerOrCookieMatches: (req: IncomingMessage) => boolean;
}

export function tokenCheck(token: string): TokenCheck {
    const digest = (s: string) => createHash('sha256').update(s).digest();
    const expected = digest(token);
    const cookieValue = createHmac('sha256', token).update('nango-mirror status page login').digest('base64url');
    const expectedCookie = digest(cookieValue);
    const matches = (given: string) => timingSafeEqual(digest(given), expected);
    const bearerMatches = (req: IncomingMessage) => matches(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    return {
        matches,
        bearerMatches,
        cookieValue,
        bearerOrCookieMatches: (req) => bearerMatches(req) || timingSafeEqual(digest(readCookie(req, LOGIN_COOKIE) ?? ''), expectedCookie),
    };
}

/** 401 `unauthorized` unless the request carries the token as allowed (the admin API: bearer only). */
export function requireToken(check: (req: IncomingMessage) => boolean, hint: string): RequestHandler {
    return (req, res, next) => {
        if (!check(req)) return sendError(res, new HttpError(401, 'unauthorized', hint));
        next();
    };
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return undefined;
}
