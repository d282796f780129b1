import { z } from 'zod';
import { KEY_STATES } from '../../domain/keyState.js';
import type { KeyFilter } from '../../storage/store.js';
import { HttpError } from '../httpError.js';
import { nameParam, wholeNumberParam } from '../queryParams.js';

export const PER_PAGE_DEFAULT = 100;
export const PER_PAGE_MAX = 500;
/** Far past any real mirror (100 million keys at 100 a page); keeps the offset a small integer. */
const PAGE_MAX = 1_000_000;

/** What `GET /` and `GET /status.json` are asked for: one page of the keys a filter matches. */
export interface StatusQuery {
    /** From 1. */
    page: number;
    perPage: number;
    filter: KeyFilter;
}


/** The query parameters, each on its own (a repeated parameter arrives as an array: refused). Others are ignored. */
const PARAMS = {
    page: wholeNumberParam(1, PAGE_MAX),
    per_page: wholeNumberParam(1, PER_PAGE_MAX),
    integration: nameParam,
    connection: nameParam,
    status: z.enum(KEY_STATES),
} as const;

type Params = { [K in keyof typeof PARAMS]?: z.output<(typeof PARAMS)[K]> };

/**
 * Reads the page and filter from a request's query. Strict (`/status.json`): a bad parameter is
 * a `400 invalid_query` naming it. Lenient (the HTML page, typed by people): a bad parameter is as
 * if absent, so a mistyped link still shows the keys.
 */
export function readStatusQuery(query: Record<string, unknown>, mode: 'strict' | 'lenient'): StatusQuery {
    const params: Params = {};
    for (const key of Object.keys(PARAMS) as Array<keyof typeof PARAMS>) {
        if (query[key] === undefined) continue;
        const parsed = PARAMS[key].safeParse(query[key]);
        if (parsed.success) (params as Record<string, unknown>)[key] = parsed.data;
        else if (mode === 'strict') throw new HttpError(400, 'invalid_query', `${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
    return {
        page: params.page ?? 1,
        perPage: params.per_page ?? PER_PAGE_DEFAULT,
        filter: {
            ...(params.integration === undefined ? {} : { providerConfigKey: params.integration }),
            ...(params.connection === undefined ? {} : { connectionId: params.connection }),
            ...(params.status === undefined ? {} : { status: params.status }),
        },
    };
}

/** The filter as the query parameters that ask for it. */
export function filterParams(filter: KeyFilter): { integration?: string; connection?: string; status?: string } {
    return {
        ...(filter.providerConfigKey === undefined ? {} : { integration: filter.providerConfigKey }),
        ...(filter.connectionId === undefined ? {} : { connection: filter.connectionId }),
        ...(filter.status === undefined ? {} : { status: filter.status }),
    };
}

/** The query string that asks for page `page` of the same keys: defaults left out, so links stay short. */
export function statusQueryString(page: number, perPage: number, filter: Record<string, string>, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams();
    if (page !== 1) params.set('page', String(page));
    if (perPage !== PER_PAGE_DEFAULT) params.set('per_page', String(perPage));
    for (const [k, v] of Object.entries({ ...filter, ...extra })) params.set(k, v);
    const text = params.toString();
    return text === '' ? '' : `?${text}`;
}
