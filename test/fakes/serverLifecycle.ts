import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/** Closes a test server with every socket, keep-alive ones included, and clears its timers. */
export async function closeServer(server: Server | undefined, timers: Set<NodeJS.Timeout>): Promise<void> {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
}

/** Listens on `port` (0: any free one) and resolves with the base URL, e.g. `http://127.0.0.1:41234`. */
export async function listenOn(server: Server, port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const { port: bound } = server.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
}
