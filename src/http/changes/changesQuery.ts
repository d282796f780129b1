import { z } from 'zod';
import { MODEL_NAME_PATTERN, NANGO_NAME_MAX_LENGTH } from '../../domain/nangoNames.js';
import type { ChangeQuery } from '../../storage/store.js';
import { HttpError } from '../httpError.js';
import { nameParam, wholeNumberParam } from '../queryParams.js';

export const CHANGES_LIMIT_DEFAULT = 1000;
export const CHANGES_LIMIT_MAX = 10_000;
/** A long poll waits at most this long: under the usual proxy and load-balancer idle timeouts (60 s). */
export const CHANGES_WAIT_MAX_SECONDS = 50;

/** `GET /changes`: where to start, how many, how long to wait for one, and which keys. */
export interface ChangesRequest extends ChangeQuery {
    waitMs: number;
}

/** Each parameter on its own (a repeated one arrives as an array: refused). Others are ignored. */
const PARAMS = {
    after: wholeNumberParam(0, Number.MAX_SAFE_INTEGER),
    limit: wholeNumberParam(1, CHANGES_LIMIT_MAX),
    wait: wholeNumberParam(0, CHANGES_WAIT_MAX_SECONDS),
    integration: nameParam,
    connection: nameParam,
    model: z.string().regex(MODEL_NAME_PATTERN, 'a Nango model name such as "Contact"').max(NANGO_NAME_MAX_LENGTH),
} as const;

/** Reads `after`, `limit`, `wait`, `integration`, `connection`, `model`; a bad one is a `400 invalid_query` naming it. */
export function readChangesQuery(query: Record<string, unknown>): ChangesRequest {
    const got: Record<string, unknown> = {};
    for (const key of Object.keys(PARAMS) as Array<keyof typeof PARAMS>) {
        if (query[key] === undefined) continue;
        const parsed = PARAMS[key].safeParse(query[key]);
        if (!parsed.success) throw new HttpError(400, 'invalid_query', `${key}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        got[key] = parsed.data;
    }
    return {
        after: (got['after'] as number | undefined) ?? 0,
        limit: (got['limit'] as number | undefined) ?? CHANGES_LIMIT_DEFAULT,
        waitMs: ((got['wait'] as number | undefined) ?? 0) * 1000,
        ...(got['integration'] === undefined ? {} : { providerConfigKey: got['integration'] as string }),
        ...(got['connection'] === undefined ? {} : { connectionId: got['connection'] as string }),
        ...(got['model'] === undefined ? {} : { model: got['model'] as string }),
    };
}
