// A lean HTTP/1.1 client for load generation: one keep-alive socket, one request in flight, the
// request's bytes built once. The senders share the 2 cores with the daemon they measure; node:http
// costs them ~130 µs of CPU a request and this ~20 µs, so less of the machine goes to the harness
// (as with wrk; Nango's real senders are on other machines).
import { connect, type Socket } from 'node:net';

export interface RawSender {
    /** Sends the prepared request; resolves with the status once the whole answer is read. */
    send(request: Buffer): Promise<number>;
    /** False once the daemon has closed the connection (an idle keep-alive one, after its timeout). */
    isOpen(): boolean;
    close(): void;
}

/** `POST path` with these headers and body, as bytes on the wire. */
export function rawRequest(path: string, headers: Record<string, string>, body: string): Buffer {
    const bytes = Buffer.from(body);
    const lines = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: keep-alive', `content-length: ${bytes.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), bytes]);
}

export function openRawSender(port: number): Promise<RawSender> {
    return new Promise((resolve, reject) => {
        const socket: Socket = connect({ host: '127.0.0.1', port, noDelay: true });
        let buffered: Buffer = Buffer.alloc(0);
        let waiting: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;
        const fail = (err: Error) => {
            waiting?.reject(err);
            waiting = undefined;
        };
        socket.on('data', (chunk: Buffer) => {
            buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
            const end = buffered.indexOf('\r\n\r\n');
            if (end < 0) return;
            const head = buffered.subarray(0, end).toString('latin1');
            const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]);
            if (!Number.isInteger(length)) return fail(new Error(`an answer without Content-Length: ${head.slice(0, 200)}`));
            if (buffered.length < end + 4 + length) return;
            buffered = buffered.subarray(end + 4 + length);
            const status = Number(head.slice(9, 12));
            const w = waiting;
            waiting = undefined;
            w?.resolve(status);
        });
        socket.once('error', (err) => {
            fail(err);
            reject(err);
        });
        socket.once('close', () => fail(new Error('the daemon closed the connection')));
        socket.once('connect', () =>
            resolve({
                send(request) {
                    // A write to a closed socket neither fails nor is answered: it would wait forever.
                    if (socket.destroyed) return Promise.reject(new Error('the daemon closed the connection'));
                    return new Promise<number>((res, rej) => {
                        waiting = { resolve: res, reject: rej };
                        socket.write(request);
                    });
                },
                isOpen: () => !socket.destroyed,
                close: () => socket.destroy(),
            }),
        );
    });
}
