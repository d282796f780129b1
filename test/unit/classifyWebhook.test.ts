import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyWebhook } from '../../src/webhooks/classifyWebhook.js';

// The §3.1 body, byte for byte as Nango sends it.
const SYNC = JSON.parse(
    '{"checkpoints":{"from":{"lastModifiedISO":"2026-08-19T00:00:00Z"},"to":{"lastModifiedISO":"2026-08-20T09:59:00Z"}},"connectionId":"conn-1","from":"nango","model":"Contact","modifiedAfter":"2026-08-20T10:00:00.123Z","providerConfigKey":"hubspot","queryTimeStamp":"2026-08-20T10:00:00.123Z","responseResults":{"added":2,"deleted":0,"updated":1},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}',
) as Record<string, unknown>;

test('a successful sync webhook pulls (providerConfigKey, connectionId, model, syncVariant)', () => {
    assert.deepEqual(classifyWebhook(SYNC, []), {
        kind: 'pull',
        keys: [{ providerConfigKey: 'hubspot', connectionId: 'conn-1', model: 'Contact', variant: 'base' }],
        syncName: 'contacts',
    });
    const variant = classifyWebhook({ ...SYNC, syncVariant: 'eu' }, []);
    assert.equal(variant.kind === 'pull' && variant.keys[0]?.variant, 'eu');
});

test('a failed sync webhook names every model of its comma list and pulls nothing', () => {
    const action = classifyWebhook(
        { connectionId: 'c', error: { description: 'boom', type: 'script_error' }, failedAt: 'x', from: 'nango', model: 'Contact,Company', providerConfigKey: 'p', startedAt: 'y', success: false, syncName: 's', syncType: 'INCREMENTAL', syncVariant: 'base', type: 'sync' },
        [],
    );
    assert.equal(action.kind, 'sync_failed');
    assert.deepEqual(action.kind === 'sync_failed' && action.keys.map((k) => k.model), ['Contact', 'Company']);
    assert.equal(action.kind === 'sync_failed' && action.error, 'script_error: boom');
});

test('auth deletion marks the connection gone; other auth webhooks are only logged', () => {
    const base = { authMode: 'OAUTH2', connectionId: 'c', environment: 'dev', from: 'nango', provider: 'hubspot', providerConfigKey: 'p', success: true, type: 'auth' };
    assert.deepEqual(classifyWebhook({ ...base, operation: 'deletion' }, []), { kind: 'connection_deleted', providerConfigKey: 'p', connectionId: 'c' });
    assert.equal(classifyWebhook({ ...base, operation: 'creation' }, []).kind, 'auth');
});

test('forward, async_action, unwrapped provider payloads and unknown types are ignored', () => {
    assert.equal(classifyWebhook({ connectionId: 'c', from: 'hubspot', payload: {}, providerConfigKey: 'p', type: 'forward' }, []).kind, 'ignore');
    assert.equal(classifyWebhook({ connectionId: 'c', from: 'nango', payload: { id: 'r', statusUrl: '/action/r' }, providerConfigKey: 'p', type: 'async_action' }, []).kind, 'ignore');
    assert.equal(classifyWebhook({ type: 'sync', object: 'event', data: {} }, []).kind, 'ignore'); // a Stripe-like payload
    assert.equal(classifyWebhook([1, 2], []).kind, 'ignore');
    assert.equal(classifyWebhook({ from: 'nango', type: 'brand_new_type' }, []).kind, 'ignore');
});

test('new fields from Nango never make a webhook invalid; missing required ones do', () => {
    assert.equal(classifyWebhook({ ...SYNC, somethingNew: { a: 1 } }, []).kind, 'pull');
    const { connectionId: _drop, ...noConnection } = SYNC;
    assert.equal(classifyWebhook(noConnection, []).kind, 'invalid');
});

test('the models allow-list filters by integration, model and optional variant', () => {
    const allow = [{ providerConfigKey: 'hubspot', model: 'Contact' }];
    assert.equal(classifyWebhook(SYNC, allow).kind, 'pull');
    assert.equal(classifyWebhook({ ...SYNC, model: 'Company' }, allow).kind, 'ignore');
    assert.equal(classifyWebhook({ ...SYNC, syncVariant: 'eu' }, [{ providerConfigKey: 'hubspot', model: 'Contact', variant: 'base' }]).kind, 'ignore');
});

test('identifiers no engine can store exactly (NUL, a lone surrogate) make the webhook invalid, not a retried 503', () => {
    for (const connectionId of ['nul\u0000byte', 'lone\ud800x', 'lone\udc00']) {
        assert.equal(classifyWebhook({ ...SYNC, connectionId }, []).kind, 'invalid', JSON.stringify(connectionId));
    }
    assert.equal(classifyWebhook({ ...SYNC, connectionId: "o'brien; DROP TABLE x -- 😀" }, []).kind, 'pull');
});
