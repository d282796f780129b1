import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

import { stableStringify } from './stableStringify.js';
import {
    asyncActionBody,
    authBody,
    forwardBody,
    hmacSignature,
    legacySignature,
    postWebhook,
    signWebhook,
    syncErrorBody,
    syncSuccessBody
} from './webhooks.js';

// Protocol §3.1 body, byte for byte; §2.4 second test vector.
const SYNC_BODY_3_1 =
    '{"checkpoints":{"from":{"lastModifiedISO":"2026-08-19T00:00:00Z"},"to":{"lastModifiedISO":"2026-08-20T09:59:00Z"}},"connectionId":"conn-1","from":"nango","model":"Contact","modifiedAfter":"2026-08-20T10:00:00.123Z","providerConfigKey":"hubspot","queryTimeStamp":"2026-08-20T10:00:00.123Z","responseResults":{"added":2,"deleted":0,"updated":1},"success":true,"syncName":"contacts","syncType":"INCREMENTAL","syncVariant":"base","type":"sync"}';

test('§2.4 vector 1: key "secret", body "payload"', () => {
    assert.equal(hmacSignature('payload', 'secret'), 'b82fcb791acec57859b989b430a826488ce2e479fdf92326bd0a2e8375a42ba4');
    assert.equal(legacySignature('payload', 'secret'), '22439a879b090cd05e5b51c5b5d7e4a205830e6ab4f54b90f5a822b7c7110934');
    const signed = signWebhook('payload', 'secret');
    assert.equal(signed.body, 'payload');
    assert.equal(signed.headers['x-nango-hmac-sha256'], 'b82fcb791acec57859b989b430a826488ce2e479fdf92326bd0a2e8375a42ba4');
});

test('§2.4 vector 2: the 440-byte §3.1 body', () => {
    const key = '00000000-0000-4000-8000-000000000000';
    assert.equal(Buffer.byteLength(SYNC_BODY_3_1), 440);
    assert.equal(hmacSignature(SYNC_BODY_3_1, key), '87ad1ac1c0b1098fd0d817e4a34a6c0981fa64ef93d739f93509caa4afd3069d');
    assert.equal(legacySignature(SYNC_BODY_3_1, key), '24a806604187334908689c262490d8e1eb16043dcacc3d35283e27373fec6835');
});

test('syncSuccessBody + stableStringify reproduce the §3.1 body exactly', () => {
    const body = syncSuccessBody({
        providerConfigKey: 'hubspot',
        connectionId: 'conn-1',
        model: 'Contact',
        syncName: 'contacts',
        added: 2,
        updated: 1,
        deleted: 0,
        checkpoints: { from: { lastModifiedISO: '2026-08-19T00:00:00Z' }, to: { lastModifiedISO: '2026-08-20T09:59:00Z' } },
        modifiedAfter: new Date('2026-08-20T10:00:00.123Z')
    });
    assert.equal(stableStringify(body), SYNC_BODY_3_1);
    const signed = signWebhook(body, '00000000-0000-4000-8000-000000000000');
    assert.equal(signed.body, SYNC_BODY_3_1);
    assert.deepEqual(signed.headers, {
        'content-type': 'application/json',
        'user-agent': 'nango/0.71.10 (linux/6; node.js/v20)',
        'x-nango-hmac-sha256': '87ad1ac1c0b1098fd0d817e4a34a6c0981fa64ef93d739f93509caa4afd3069d',
        'x-nango-signature': '24a806604187334908689c262490d8e1eb16043dcacc3d35283e27373fec6835'
    });
});

test('checkpoints are omitted when null; variant defaults to base', () => {
    const body = syncSuccessBody({ providerConfigKey: 'p', connectionId: 'c', model: 'Ticket', checkpoints: null });
    assert.equal('checkpoints' in body, false);
    assert.equal(body['syncVariant'], 'base');
    assert.equal(body['modifiedAfter'], body['queryTimeStamp']);
    assert.equal(syncSuccessBody({ providerConfigKey: 'p', connectionId: 'c', model: 'Ticket', variant: 'v2' })['syncVariant'], 'v2');
});

test('other bodies have the §3 shapes', () => {
    const err = syncErrorBody({ providerConfigKey: 'hubspot', connectionId: 'conn-1', model: ['Contact', 'Company'], description: 'boom' });
    assert.equal(err['model'], 'Contact,Company');
    assert.equal(err['success'], false);
    assert.deepEqual(err['error'], { description: 'boom', type: 'script_error' });
    assert.deepEqual(Object.keys(JSON.parse(stableStringify(err)) as object), [
        'connectionId', 'error', 'failedAt', 'from', 'model', 'providerConfigKey', 'startedAt', 'success', 'syncName', 'syncType', 'syncVariant', 'type'
    ]);

    const auth = authBody({ providerConfigKey: 'hubspot', connectionId: 'c', operation: 'deletion', authMode: 'unknown' });
    assert.equal(auth['type'], 'auth');
    assert.equal(auth['operation'], 'deletion');

    const fwd = forwardBody({ providerConfigKey: 'hubspot', connectionId: 'c', provider: 'hubspot', payload: { type: 'x' } });
    assert.equal(fwd['from'], 'hubspot');
    assert.equal(fwd['type'], 'forward');

    assert.equal(
        stableStringify(asyncActionBody({ providerConfigKey: 'p', connectionId: 'c', id: 'rk' })),
        '{"connectionId":"c","from":"nango","payload":{"id":"rk","statusUrl":"/action/rk"},"providerConfigKey":"p","type":"async_action"}'
    );
});

test('postWebhook sends the signed bytes', async () => {
    let seen: { body: string; hmac: string | undefined; ua: string | undefined } | undefined;
    const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
            seen = { body: Buffer.concat(chunks).toString('utf8'), hmac: req.headers['x-nango-hmac-sha256'] as string | undefined, ua: req.headers['user-agent'] };
            res.writeHead(202, { 'content-type': 'application/json' }).end('{"ok":true}');
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
        const body = syncSuccessBody({ providerConfigKey: 'hubspot', connectionId: 'é/ü', model: 'Contact', added: 1 });
        const res = await postWebhook(url, body, 'k1');
        assert.deepEqual(res, { status: 202, json: { ok: true } });
        assert.ok(seen);
        assert.equal(seen.body, stableStringify(body));
        assert.equal(seen.hmac, createHmac('sha256', 'k1').update(seen.body).digest('hex'));
        assert.equal(seen.ua, 'nango/0.71.10 (linux/6; node.js/v20)');
    } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
    }
});
