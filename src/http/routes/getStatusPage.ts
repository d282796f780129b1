import { Router, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { KeyStates } from '../../storage/store.js';
import { renderStatusPage, STATUS_PAGE_CSP } from '../statusPage/renderStatusPage.js';
import { readStatusQuery } from '../statusPage/statusQuery.js';
import { statusSnapshot } from '../statusPage/statusSnapshot.js';

export interface StatusPageDeps {
    keys: Pick<KeyStates, 'listKeyPage' | 'summarizeKeys'>;
    registry: Registry;
    /** Seconds between refreshes unless `?refresh=N` (1–3600) asks otherwise. @default 5 */
    refreshSeconds?: number;
}

/**
 * `GET /`: the read-only status page; `GET /status.json`: the same data as JSON. Both show one page
 * of keys (`?page=N`, `?per_page=N` up to 500, 100 by default), failing and lagging keys first, and
 * may be narrowed by `?integration=`, `?connection=` and `?status=`.
 */
export function statusPageRouter(deps: StatusPageDeps): Router {
    const router = Router();

    router.get('/', async (req, res) => {
        const asked = Number(req.query['refresh']);
        const refreshAsked = Number.isInteger(asked) && asked >= 1 && asked <= 3600;
        const refreshSeconds = refreshAsked ? asked : (deps.refreshSeconds ?? 5);
        const query = readStatusQuery(req.query, 'lenient');
        const snap = await statusSnapshot(deps, query, { lastPageIfPast: true });
        const html = renderStatusPage(snap, { refreshSeconds, keepRefresh: refreshAsked });
        noStore(res);
        res.setHeader('content-security-policy', STATUS_PAGE_CSP);
        res.setHeader('referrer-policy', 'no-referrer');
        res.type('html').send(html);
    });

    router.get('/status.json', async (req, res) => {
        // A bad parameter throws a 400 invalid_query, answered by the server's error handler.
        const snap = await statusSnapshot(deps, readStatusQuery(req.query, 'strict'));
        noStore(res);
        res.json(snap);
    });
    return router;
}

function noStore(res: Response): void {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
}
