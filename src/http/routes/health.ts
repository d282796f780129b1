import type { RequestHandler } from 'express';
import type { Schema } from '../../storage/store.js';
import type { DaemonHealth } from '../../lib/daemonHealth.js';

/** 200 while the process runs. */
export function getHealthz(): RequestHandler {
    return (_req, res) => {
        res.json({ status: 'ok' });
    };
}

/** 200 only when the database answers and is migrated, and Nango did not last refuse the API key. */
export function getReadyz(schema: Pick<Schema, 'checkReady'>, health: DaemonHealth): RequestHandler {
    return async (_req, res) => {
        const problems: string[] = [];
        try {
            await schema.checkReady();
        } catch (err) {
            problems.push(`database: ${(err as Error).message}`);
        }
        if (health.nangoAuth === 'refused') {
            problems.push('nango: the last request was refused (401/403); check nango.apiKey');
        }
        if (problems.length > 0) {
            res.status(503).json({ status: 'not_ready', error: { code: 'not_ready', message: problems.join('; ') } });
            return;
        }
        res.json({ status: 'ready' });
    };
}
