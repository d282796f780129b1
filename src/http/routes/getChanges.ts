import { Router } from 'express';
import { readChangesQuery } from '../changes/changesQuery.js';
import { waitForChanges, type ChangeFeedDeps } from '../changes/waitForChanges.js';

export interface ChangesRouteDeps extends ChangeFeedDeps {
    /** Aborted when the daemon stops: waiting readers are answered (with what there is) instead of cut off. */
    stopping: AbortSignal;
}

/**
 * `GET /changes?after=<seq>&limit=<n>&wait=<seconds>&integration=&connection=&model=`: the change
 * log by offset, oldest first. `{changes, next, latest}`: pass `next` as `after` the next time.
 * With `wait`, an empty answer is held until a change commits (long poll, at most 50 s). `after`
 * below what retention removed is a `410 offset_expired` with `prunedThrough`.
 */
export function changesRouter(deps: ChangesRouteDeps): Router {
    const router = Router();
    router.get('/changes', async (req, res) => {
        // A bad parameter throws a 400 invalid_query, answered by the server's error handler.
        const request = readChangesQuery(req.query);
        const left = new AbortController();
        const onClose = () => left.abort();
        res.on('close', onClose);
        try {
            const answer = await waitForChanges(deps, request, AbortSignal.any([left.signal, deps.stopping]));
            if (res.writableEnded || res.destroyed) return;
            res.setHeader('cache-control', 'no-store');
            if (answer.expired) {
                res.status(410).json({
                    error: {
                        code: 'offset_expired',
                        message: `Changes after ${request.after} were removed by retention (changes.retentionHours, changes.maxRows): resync what you keep from the mirror's tables, then read from after=${answer.prunedThrough}.`,
                        prunedThrough: answer.prunedThrough,
                    },
                });
                return;
            }
            const last = answer.changes[answer.changes.length - 1];
            res.json({ changes: answer.changes, next: last ? last.seq : request.after, latest: answer.latest });
        } finally {
            res.off('close', onClose);
        }
    });
    return router;
}
