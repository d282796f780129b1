import type { Logger } from 'pino';

/** What /readyz reports beyond the database: whether Nango accepts our API key. */
export interface DaemonHealth {
    nangoAuth: 'unknown' | 'ok' | 'refused';
    /** Called after every Nango answer; logs loudly once when the key starts being refused. */
    onNangoAuth(ok: boolean): void;
}

export function createDaemonHealth(logger: Logger): DaemonHealth {
    const health: DaemonHealth = {
        nangoAuth: 'unknown',
        onNangoAuth(ok) {
            const next = ok ? 'ok' : 'refused';
            if (next === health.nangoAuth) return;
            if (!ok) {
                logger.error(
                    'Nango refused nango.apiKey (401/403): the API key is wrong, revoked, or lacks the environment:records:read scope. ' +
                        'Nothing will be mirrored until it is fixed; /readyz fails meanwhile.',
                );
            } else if (health.nangoAuth === 'refused') {
                logger.info('Nango accepts nango.apiKey again');
            }
            health.nangoAuth = next;
        },
    };
    return health;
}
