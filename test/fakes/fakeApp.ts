/**
 * A fake app that receives nango-mirror's notices over real HTTP: it verifies the HMAC over the raw
 * body as an app should, records every notice it accepted (2xx), and can fail, be slow or hang.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Notice } from '../../src/notify/notice.js';
import { closeServer, listenOn } from './serverLifecycle.js';

export interface ReceivedNotice {
    /** The raw body, exactly as received. */
    raw: string;
    notice: Notice;
    contentType: string | undefined;
}

export class FakeApp {
    /** Notices answered with 2xx, in the order they were accepted. */
    readonly received: ReceivedNotice[] = [];
    /** Every request, whatever the answer. */
    requests = 0;
    /** Requests answered with a failure status (by `failNext`). */
    failed = 0;
    /** Requests whose signature did not verify (answered 401). */
    badSignatures = 0;
    /** Delay before each answer. */
    delayMs = 0;
    /** Never answer (the sender must time out). */
    hang = false;
    inFlight = 0;
    maxInFlight = 0;
    /** Most requests in flight at once for one key (must stay 1: ordered per key). */
    maxInFlightPerKey = 0;
    baseUrl: string | undefined;

    private readonly perKey = new Map<string, number>();
    private failures: number[] = [];
    private server: Server | undefined;
    private readonly timers = new Set<NodeJS.Timeout>();

    constructor(private readonly signingKey: string) {}

    get url(): string {
        if (!this.baseUrl) throw new Error('FakeApp is not started');
        return `${this.baseUrl}/hooks/nango-mirror`;
    }

    /** The next `n` requests are answered with `status` (after any delay). */
    failNext(n: number, status = 500): void {
        for (let i = 0; i < n; i++) this.failures.push(status);
    }

    /** Notices for one key, in the order accepted. */
    forKey(connectionId: string, model?: string): ReceivedNotice[] {
        return this.received.filter((r) => r.notice.connectionId === connectionId && (model === undefined || r.notice.model === model));
    }

    async start(port = 0, host = '127.0.0.1'): Promise<string> {
        const server = createServer((req, res) => void this.handle(req, res));
        this.server = server;
        this.baseUrl = await listenOn(server, port, host);
        return this.url;
    }

    async stop(): Promise<void> {
        const server = this.server;
        this.server = undefined;
        await closeServer(server, this.timers);
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        this.requests++;
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const raw = Buffer.concat(chunks);
        // What an app does: HMAC over the exact bytes received, compared in constant time.
        const expected = Buffer.from(createHmac('sha256', this.signingKey).update(raw).digest('hex'));
        const given = Buffer.from(String(req.headers['x-nango-mirror-hmac-sha256'] ?? ''));
        if (req.method !== 'POST' || given.length !== expected.length || !timingSafeEqual(given, expected)) {
            this.badSignatures++;
            res.writeHead(401).end();
            return;
        }
        const text = raw.toString('utf8');
        const notice = JSON.parse(text) as ReceivedNotice['notice'];
        const key = JSON.stringify([notice.providerConfigKey, notice.connectionId, notice.model, notice.variant]);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        const n = (this.perKey.get(key) ?? 0) + 1;
        this.perKey.set(key, n);
        this.maxInFlightPerKey = Math.max(this.maxInFlightPerKey, n);
        const done = () => {
            this.inFlight--;
            this.perKey.set(key, (this.perKey.get(key) ?? 1) - 1);
        };
        if (this.hang) {
            res.on('close', done);
            return;
        }
        if (this.delayMs > 0) await this.sleep(this.delayMs);
        done();
        const status = this.failures.shift();
        if (status !== undefined) {
            this.failed++;
            res.writeHead(status, { 'content-type': 'text/plain' }).end('nope');
            return;
        }
        this.received.push({ raw: text, notice, contentType: req.headers['content-type'] });
        res.writeHead(204).end();
    }

    private sleep(ms: number): Promise<void> {
        return new Promise((resolve) => {
            const t = setTimeout(() => {
                this.timers.delete(t);
                resolve();
            }, ms);
            this.timers.add(t);
        });
    }
}
