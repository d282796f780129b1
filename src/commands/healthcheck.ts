import type { ServerConfig } from '../config/schema.js';

/**
 * `nango-mirror healthcheck`: GETs `/healthz` on the host and port the config makes the daemon
 * listen on (the image's HEALTHCHECK), so the check follows `server.port` wherever it is set.
 * 0 when the daemon answers 2xx, 1 when it answers otherwise or not at all, 2 when the config
 * cannot say where to ask (`server.port` 0 picks a port at start).
 */
export async function healthcheckCommand(config: ServerConfig, options: { timeoutMs?: number } = {}, out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
    const { host, port } = config.server;
    if (port === 0) {
        err('server.port is 0 (a free port chosen at start): healthcheck cannot know where to ask. Set a fixed port.');
        return 2;
    }
    const url = `http://${hostToAsk(host)}:${String(port)}/healthz`;
    try {
        const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
        await res.body?.cancel();
        if (res.ok) {
            out(`${url}: ${String(res.status)}`);
            return 0;
        }
        err(`${url}: ${String(res.status)}`);
        return 1;
    } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code;
        err(`${url}: ${cause ?? (e instanceof Error ? e.message : String(e))}`);
        return 1;
    }
}

/** A wildcard listen address is asked on loopback; an IPv6 literal goes in brackets. */
function hostToAsk(host: string): string {
    if (host === '0.0.0.0' || host === '::' || host === '[::]') return '127.0.0.1';
    return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
