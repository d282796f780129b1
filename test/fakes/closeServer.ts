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
