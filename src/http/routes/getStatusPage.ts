import { Router, type Response } from 'express';
import type { Registry } from 'prom-client';
import type { KeyStates } from '../../storage/store.js';
import { renderStatusPage, STATUS_PAGE_CSP } from '../statusPage/renderStatusPage.js';
import { statusSnapshot } from '../statusPage/statusSnapshot.js';

export interface StatusPageDeps {
    keys: Pick<KeyStates, 'listKeyStatus'>;
    registry: Registry;
    /** Seconds between refreshes unless `?refresh=N` (1–3600) asks otherwise. @default 5 */
    refreshSeconds?: number;
    /** Keys shown at most (failing keys first). @default 1000 */
    maxRows?: number;
}

/** `GET /`: the read-only status page; `GET /status.json`: the same data as JSON. */
export function statusPageRouter(deps: StatusPageDeps): Router {
    const router = Router();
    const snapshot = () => statusSnapshot({ keys: deps.keys, registry: deps.registry, ...(deps.maxRows === undefined ? {} : { maxRows: deps.maxRows }) });

    router.get('/', async (req, res) => {
        const asked = Number(req.query['refresh']);
        const refreshSeconds = Number.isInteger(asked) && asked >= 1 && asked <= 3600 ? asked : (deps.refreshSeconds ?? 5);
        const html = renderStatusPage(await snapshot(), { refreshSeconds });
        noStore(res);
        res.setHeader('content-security-policy', STATUS_PAGE_CSP);
        res.setHeader('referrer-policy', 'no-referrer');
        res.type('html').send(html);
    });

    router.get('/status.json', async (_req, res) => {
        const snap = await snapshot();
        noStore(res);
        res.json(snap);
    });
    return router;
}

function noStore(res: Response): void {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
}
