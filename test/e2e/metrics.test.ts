import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asyncActionBody, forwardBody, postWebhook } from '../fakes/webhooks.js';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, SIGNING_KEY, startHarness, testKey, type Harness } from '../helpers/harness.js';

interface Sample {
    name: string;
    labels: Record<string, string>;
    value: number;
}

/** Parses the Prometheus text format (enough of it for these assertions). */
function parseMetrics(text: string): Sample[] {
    const samples: Sample[] = [];
    for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        assert.ok(m, `not a Prometheus sample line: ${line}`);
        const labels: Record<string, string> = {};
        for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
            labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        }
        samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
    return samples;
}

async function scrape(h: Harness): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
    const res = await fetch(`${h.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    return { text, samples: parseMetrics(text), contentType: res.headers.get('content-type') };
}

/** The value of the one sample with exactly these labels; 0 when there is none. */
/** The sum over every sample of `name` whose labels include `labels`. */
function sumOf(samples: Sample[], name: string, labels: Record<string, string>): number {
    return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
    const want = JSON.stringify(Object.entries(labels).sort());
    const found = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
    assert.ok(found.length <= 1, `${name} ${want} appears ${found.length} times`);
    return found[0]?.value ?? 0;
}

/** Every label value each of our metrics may carry: nothing per connection, nothing unbounded. */
const ALLOWED_LABELS: Record<string, Record<string, RegExp>> = {
    nango_mirror_webhooks_total: { type: /^(sync|auth|forward|async_action|other|unknown)$/, outcome: /^[a-z_]+$/ },
    nango_mirror_records_written_total: { action: /^(upserted|deleted)$/ },
    nango_mirror_pulls_total: { outcome: /^(ok|failed|gone|aborted|busy|yielded|other)$/ },
    nango_mirror_nango_requests_total: {
        status: /^([1-5]\d\d|network_error|other)$/,
        reason: /^(webhook|admin|pending|seeded|reconcile|pull|discovery|sync_status|other)$/,
    },
    nango_mirror_pull_duration_seconds_bucket: { le: /^([0-9.]+|\+Inf)$/ },
};

const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] metrics: GET /metrics`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine });
        });
        after(() => h.close());

        test('counters, gauges and the histogram follow what the daemon did, with bounded labels', async () => {
            const a = testKey('Contact', 'conn-metrics-a');
            const b = testKey('Deal', 'conn-metrics-b');
            const failing = testKey('Contact', 'conn-metrics-failing');
            const unknown = testKey('Contact', 'conn-metrics-unknown');
            for (const k of [a, b, failing]) h.fake.addConnection(k.providerConfigKey, k.connectionId);
            h.fake.save(fakeKey(a), [{ id: 'a1' }, { id: 'a2' }, { id: 'a3' }]);
            h.fake.save(fakeKey(b), [{ id: 'b1' }, { id: 'b2' }]);

            // A fresh daemon: the series are there, at zero.
            const fresh = await scrape(h);
            assert.equal(fresh.contentType, h.daemon.metrics.contentType);
            assert.match(fresh.contentType ?? '', /^text\/plain; version=0\.0\.4/);
            assert.equal(valueOf(fresh.samples, 'nango_mirror_pending_keys'), 0);
            assert.equal(valueOf(fresh.samples, 'nango_mirror_oldest_success_age_seconds'), 0);
            assert.equal(valueOf(fresh.samples, 'nango_mirror_pulls_total', { outcome: 'ok' }), 0);
            assert.ok(fresh.samples.some((s) => s.name === 'nango_mirror_records_written_total' && s.labels['action'] === 'deleted'));
            // Node's default process metrics are on.
            assert.ok(fresh.samples.some((s) => s.name === 'process_cpu_user_seconds_total'));
            assert.ok(fresh.samples.some((s) => s.name === 'nodejs_heap_size_used_bytes'));

            // Two accepted sync webhooks, each pulled.
            assert.equal((await h.sendSync(a)).status, 200);
            assert.equal((await h.sendSync(b)).status, 200);
            await h.waitIdle();

            // A 429 on the next page: every key waits max(1, Retry-After) = 1 s, then the page is fetched.
            h.fake.rateLimit429(1, 0);
            h.fake.save(fakeKey(a), [{ id: 'a4' }]);
            assert.equal((await h.sendSync(a)).status, 200);
            await h.waitIdle();

            // A delete.
            h.fake.trackDelete(fakeKey(a), ['a1']);
            assert.equal((await h.sendSync(a)).status, 200);
            await h.waitIdle();

            // Webhooks that are rejected or ignored.
            assert.equal((await h.sendSync(a, 'a-wrong-signing-key-0000000000000')).status, 401);
            assert.equal((await postWebhook(h.webhookUrl, { from: 'nango', type: 'sync', success: true, providerConfigKey: 'hubspot' }, SIGNING_KEY)).status, 400);
            const ignored = [
                forwardBody({ providerConfigKey: 'hubspot', connectionId: 'conn-metrics-forward', provider: 'hubspot', payload: { any: 'thing' } }),
                asyncActionBody({ providerConfigKey: 'hubspot', connectionId: 'conn-metrics-async', id: 'action-1' }),
                // A type Nango may add one day, and one that would be a per-connection label if passed through.
                { from: 'nango', type: 'conn-metrics-weird-type', connectionId: 'conn-metrics-weird' },
            ];
            for (const body of ignored) assert.equal((await postWebhook(h.webhookUrl, body, SIGNING_KEY)).status, 200);

            // A record no webhook announced, found by a reconcile pass (which pulls a and b).
            h.fake.save(fakeKey(b), [{ id: 'b-late' }]);
            assert.equal(await h.daemon.reconciler.runPass(), 1);
            await h.waitIdle();

            // A key whose pull fails (3 tries of 500) stays pending; one whose connection Nango does not know is gone.
            h.fake.failNext(3, { status: 500, body: { error: { code: 'server_error', message: 'boom' } } });
            assert.equal((await h.sendSync(failing)).status, 200);
            await h.waitIdle();
            assert.equal((await h.state(failing))?.status, 'failed');
            assert.equal((await h.sendSync(unknown)).status, 200);
            await h.waitIdle();
            assert.equal((await h.state(unknown))?.status, 'gone');

            // The oldest success counts keys that are not gone: a succeeded long ago; the gone key, requested even earlier, does not count.
            const longAgo = Date.parse('2020-01-01T00:00:00.000Z');
            await h.reader.exec(
                `UPDATE nango_sync_state SET last_success_at = '2020-01-01T00:00:00.000000Z' WHERE connection_id = 'conn-metrics-a';
                 UPDATE nango_sync_state SET pull_requested_at = '2010-01-01T00:00:00.000000Z' WHERE connection_id = 'conn-metrics-unknown'`,
            );

            const before = Date.now();
            const { text, samples } = await scrape(h);
            const after = Date.now();

            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'sync', outcome: 'accepted' }), 6);
            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'unknown', outcome: 'invalid_signature' }), 1);
            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'sync', outcome: 'invalid' }), 1);
            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'other', outcome: 'ignored' }), 2, 'a forwarded payload and an unknown type are both "other"');
            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'async_action', outcome: 'ignored' }), 1);

            assert.equal(valueOf(samples, 'nango_mirror_records_written_total', { action: 'upserted' }), 7, 'a1-a3, b1-b2, a4, b-late');
            assert.equal(valueOf(samples, 'nango_mirror_records_written_total', { action: 'deleted' }), 1);

            // ok: a, b, a after the 429, a's delete, and the reconcile pulls of a and b.
            assert.equal(valueOf(samples, 'nango_mirror_pulls_total', { outcome: 'ok' }), 6);
            assert.equal(valueOf(samples, 'nango_mirror_pulls_total', { outcome: 'failed' }), 1);
            assert.equal(valueOf(samples, 'nango_mirror_pulls_total', { outcome: 'gone' }), 1);
            assert.equal(valueOf(samples, 'nango_mirror_pulls_total', { outcome: 'busy' }), 0);

            // The six pulls' pages, and the reconcile pass's GET /sync/status (this fake lists no sync, so the pass pulled every key).
            assert.equal(sumOf(samples, 'nango_mirror_nango_requests_total', { status: '200' }), 7);
            assert.equal(sumOf(samples, 'nango_mirror_nango_requests_total', { status: '429' }), 1);
            assert.equal(sumOf(samples, 'nango_mirror_nango_requests_total', { status: '500' }), 3);
            assert.equal(sumOf(samples, 'nango_mirror_nango_requests_total', { status: '400' }), 1);
            // By why they were asked: the pass's status request and its two pulls, the rest for webhooks.
            assert.equal(valueOf(samples, 'nango_mirror_nango_requests_total', { status: '200', reason: 'sync_status' }), 1);
            assert.equal(valueOf(samples, 'nango_mirror_nango_requests_total', { status: '200', reason: 'reconcile' }), 2);
            assert.equal(sumOf(samples, 'nango_mirror_nango_requests_total', { reason: 'webhook' }), 9);
            assert.equal(valueOf(samples, 'nango_mirror_rate_limited_seconds_total'), 1);
            assert.equal(valueOf(samples, 'nango_mirror_reconcile_found_records_total'), 1);

            assert.equal(valueOf(samples, 'nango_mirror_pull_duration_seconds_count'), 8);
            assert.ok(valueOf(samples, 'nango_mirror_pull_duration_seconds_sum') >= 1, 'the pull that waited out the 429 took at least 1 s');
            assert.equal(valueOf(samples, 'nango_mirror_pull_duration_seconds_bucket', { le: '+Inf' }), 8);

            assert.equal(valueOf(samples, 'nango_mirror_pending_keys'), 1, 'the failing key waits for its retry; the gone key does not count');
            const age = valueOf(samples, 'nango_mirror_oldest_success_age_seconds');
            assert.ok(age >= (before - longAgo) / 1000 - 1 && age <= (after - longAgo) / 1000 + 1, `oldest success age ${age}`);

            // No label names a connection (nor anything else from a webhook body).
            assert.doesNotMatch(text, /conn-metrics/);
            for (const s of samples) {
                const allowed = ALLOWED_LABELS[s.name];
                if (!s.name.startsWith('nango_mirror_')) continue;
                for (const [label, value] of Object.entries(s.labels)) {
                    assert.ok(allowed?.[label], `${s.name} has an unexpected label ${label}`);
                    assert.match(value, allowed[label], `${s.name}{${label}="${value}"}`);
                }
            }
        });

        test('each daemon has its own registry', async () => {
            assert.notEqual(h.daemon.metrics, (await import('prom-client')).register);
            await h.restart();
            const { samples } = await scrape(h);
            assert.equal(valueOf(samples, 'nango_mirror_webhooks_total', { type: 'sync', outcome: 'accepted' }), 0);
            // The store-backed gauges still see the keys the last run left.
            assert.equal(valueOf(samples, 'nango_mirror_pending_keys'), 1);
            assert.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'process metrics after a restart in the same process');
        });
    });
}
