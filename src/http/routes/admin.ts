import express, { Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { MODEL_NAME_PATTERN, NANGO_NAME_MAX_LENGTH, VARIANT_NAME_PATTERN } from '../../domain/nangoNames.js';
import type { KeyStates, PullRequests } from '../../storage/store.js';
import { dateToMicroIso } from '../../domain/timestamps.js';
import type { PullScheduler } from '../../sync/pullScheduler.js';
import { BASE_VARIANT, describeKey } from '../../domain/syncKey.js';
import { waitForPull } from '../../sync/waitForPull.js';
import { HttpError, sendError } from '../httpError.js';
import { requireToken, tokenCheck } from '../operatorAuth.js';
import { readStatusQuery, type StatusQuery } from '../statusPage/statusQuery.js';

export interface AdminDeps {
    token: string;
    requests: Pick<PullRequests, 'requestPulls' | 'requestResync'>;
    keys: Pick<KeyStates, 'getKeyStatus' | 'listKeyPage'>;
    scheduler: PullScheduler;
    logger: Logger;
    /** Longest a `wait: true` request waits. @default 300000 */
    maxWaitMs?: number;
}

const syncRequest = z.strictObject({
    providerConfigKey: z.string().min(1).max(NANGO_NAME_MAX_LENGTH),
    connectionId: z.string().min(1).max(NANGO_NAME_MAX_LENGTH),
    model: z.string().regex(MODEL_NAME_PATTERN).max(NANGO_NAME_MAX_LENGTH),
    variant: z.string().regex(VARIANT_NAME_PATTERN).max(NANGO_NAME_MAX_LENGTH).optional(),
    /** Forget the cursor and read from the start. */
    reset: z.boolean().default(false),
    /** With reset: rows the full read does not write are deleted at its end. */
    sweep: z.boolean().default(false),
    /** Answer only once the mirror is current as of this request (read-after-write). */
    wait: z.boolean().default(false),
});

/** `/admin/*`: Bearer token compared in constant time (as digests, so lengths leak nothing). */
export function adminRouter(deps: AdminDeps): Router {
    const router = Router();
    const token = tokenCheck(deps.token);
    router.use('/admin', requireToken(token.bearerMatches, 'Send Authorization: Bearer <admin.token>.'), express.json({ limit: '16kb' }));

    // One page, in the status page's order (worst first), with the same query parameters: at 20,000
    // keys every key with its row counts held the event loop for hundreds of ms. `status --json`
    // (the CLI, its own process) lists every key.
    router.get('/admin/keys', async (req, res) => {
        let query: StatusQuery;
        try {
            query = readStatusQuery(req.query, 'strict');
        } catch (err) {
            if (err instanceof HttpError) return sendError(res, err);
            throw err;
        }
        const { total, keys } = await deps.keys.listKeyPage({ filter: query.filter, offset: (query.page - 1) * query.perPage, limit: query.perPage });
        res.json({ keys, paging: { page: query.page, perPage: query.perPage, total, pages: Math.max(1, Math.ceil(total / query.perPage)) } });
    });

    router.post('/admin/sync', async (req, res) => {
        const parsed = syncRequest.safeParse(req.body ?? {});
        if (!parsed.success) {
            const issue = parsed.error.issues[0];
            return sendError(res, new HttpError(400, 'invalid_request', `${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`));
        }
        const { reset, sweep, wait, variant, ...rest } = parsed.data;
        if (sweep && !reset) return sendError(res, new HttpError(400, 'invalid_request', 'sweep needs reset: a sweep only makes sense after a full read.'));
        const key = { ...rest, variant: variant ?? BASE_VARIANT };
        const at = dateToMicroIso(new Date());
        if (reset) await deps.requests.requestResync(key, sweep, at);
        else await deps.requests.requestPulls([key], at);
        const requestSeq = (await deps.keys.getKeyStatus(key, { counts: false }))?.requestSeq ?? 0;
        deps.logger.info({ key: describeKey(key), reset, sweep }, 'pull requested through the admin API');
        deps.scheduler.offer(key, 'admin');
        if (!wait) return res.status(202).json({ status: 'requested', requestSeq });
        const outcome = await waitForPull(deps.keys, key, requestSeq, { timeoutMs: deps.maxWaitMs ?? 300_000 });
        if (outcome.ok) return res.json({ status: 'synced', requestSeq, key: outcome.status });
        const status = outcome.code === 'wait_timeout' ? 504 : outcome.code === 'connection_gone' ? 409 : 502;
        return sendError(res, new HttpError(status, outcome.code, outcome.message));
    });
    return router;
}
