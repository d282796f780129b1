import { Router } from 'express';
import type { Registry } from 'prom-client';

/**
 * `GET /metrics`: the registry in Prometheus text format. A scrape that cannot read the store
 * (the two gauges computed from it) fails with a 500, so Prometheus shows the target down
 * rather than a stale age.
 */
export function metricsRouter(registry: Registry): Router {
    const router = Router();
    router.get('/metrics', async (_req, res) => {
        const body = await registry.metrics();
        res.setHeader('content-type', registry.contentType);
        res.setHeader('cache-control', 'no-store');
        res.send(body);
    });
    return router;
}
