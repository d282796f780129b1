// What a bench reads from the daemon's own operator surfaces: `/metrics` (the Nango requests it made
// by reason and status; the worst event-loop delay since the last scrape) and how long `/metrics`,
// the status page and `/status.json` take to answer.
//
// The event-loop figure is prom-client's default `nodejs_eventloop_lag_max_seconds`: Node's
// monitorEventLoopDelay histogram (10 ms resolution), read and reset at every scrape, so a scrape
// reports the longest the main thread kept a timer waiting since the scrape before it. It includes
// the resolution: a 100 ms block reads about 107 ms, an idle loop about 10 ms.

/** What one scrape says. Counters are the daemon's totals since it started. */
export interface Scrape {
    /** Longest event-loop delay since the previous scrape (or since the daemon started), in ms. */
    stallMs: number;
    /** `nango_mirror_nango_requests_total` by `reason` then `status`. */
    requests: Map<string, Map<string, number>>;
}

/** A phase's Nango requests: per reason (any status), and how many were answered 429. */
export interface PhaseRequests {
    byReason: Record<string, number>;
    rateLimited: number;
    total: number;
}

const REQUESTS = 'nango_mirror_nango_requests_total';
const LAG_MAX = 'nodejs_eventloop_lag_max_seconds';

export function parseScrape(text: string): Scrape {
    const requests = new Map<string, Map<string, number>>();
    let stallMs = NaN;
    for (const line of text.split('\n')) {
        if (line.startsWith(`${LAG_MAX} `)) stallMs = Number(line.slice(LAG_MAX.length + 1)) * 1000;
        if (!line.startsWith(`${REQUESTS}{`)) continue;
        const close = line.indexOf('}');
        const labels = Object.fromEntries([...line.slice(REQUESTS.length + 1, close).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
        const byStatus = requests.get(labels['reason'] ?? '') ?? new Map<string, number>();
        requests.set(labels['reason'] ?? '', byStatus);
        byStatus.set(labels['status'] ?? '', Number(line.slice(close + 1)));
    }
    if (Number.isNaN(stallMs)) throw new Error(`/metrics has no ${LAG_MAX}`);
    return { stallMs, requests };
}

/** One `GET path` to the daemon's operator listener (`server.adminPort`), timed from the request to the last byte of the answer. */
export async function timedGet(adminPort: number, path: string): Promise<{ ms: number; body: string }> {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    const body = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${body.slice(0, 200)}`);
    return { ms, body };
}

export async function scrape(adminPort: number): Promise<Scrape> {
    return parseScrape((await timedGet(adminPort, '/metrics')).body);
}

/** The requests counted between two scrapes of one daemon (`before` omitted: since it started). */
export function requestsBetween(after: Scrape, before?: Scrape): PhaseRequests {
    const result: PhaseRequests = { byReason: {}, rateLimited: 0, total: 0 };
    for (const [reason, byStatus] of after.requests) {
        for (const [status, n] of byStatus) {
            const d = n - (before?.requests.get(reason)?.get(status) ?? 0);
            if (d === 0) continue;
            result.byReason[reason] = (result.byReason[reason] ?? 0) + d;
            if (status === '429') result.rateLimited += d;
            result.total += d;
        }
    }
    return result;
}

/** `reason count, …` (and the 429s), largest first; `none` when there were none. */
export function describeRequests(r: PhaseRequests): string {
    const parts = Object.entries(r.byReason)
        .sort((a, b) => b[1] - a[1])
        .map(([reason, n]) => `${reason} ${n.toLocaleString('en')}`);
    if (parts.length === 0) return 'none';
    return `${parts.join(', ')}${r.rateLimited > 0 ? ` (of which ${r.rateLimited.toLocaleString('en')} answered 429)` : ''}`;
}
