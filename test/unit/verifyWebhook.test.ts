import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { verifyWebhook } from '../../src/http/verifyWebhook.js';

// Protocol §2.4, from Nango's packages/webhooks/lib/utils.unit.test.ts.
const VECTOR = {
    key: 'secret',
    body: Buffer.from('payload'),
    hmac: 'b82fcb791acec57859b989b430a826488ce2e479fdf92326bd0a2e8375a42ba4',
    legacy: '22439a879b090cd05e5b51c5b5d7e4a205830e6ab4f54b90f5a822b7c7110934',
};

test('the HMAC test vector verifies, uppercase hex included', () => {
    const opts = { keys: [VECTOR.key], acceptLegacy: false };
    assert.deepEqual(verifyWebhook(VECTOR.body, { 'x-nango-hmac-sha256': VECTOR.hmac }, opts), { ok: true, scheme: 'hmac-sha256', keyIndex: 0 });
    assert.equal(verifyWebhook(VECTOR.body, { 'x-nango-hmac-sha256': VECTOR.hmac.toUpperCase() }, opts).ok, true);
});

test('the legacy signature counts only when accepted', () => {
    const headers = { 'x-nango-signature': VECTOR.legacy };
    assert.deepEqual(verifyWebhook(VECTOR.body, headers, { keys: [VECTOR.key], acceptLegacy: false }), { ok: false, code: 'missing_signature' });
    assert.deepEqual(verifyWebhook(VECTOR.body, headers, { keys: [VECTOR.key], acceptLegacy: true }), { ok: true, scheme: 'legacy-sha256', keyIndex: 0 });
});

test('every configured key is accepted (rotation), any other is not', () => {
    const body = Buffer.from('{"a":1}');
    const sig = createHmac('sha256', 'new-key').update(body).digest('hex');
    const verdict = verifyWebhook(body, { 'x-nango-hmac-sha256': sig }, { keys: ['old-key', 'new-key'], acceptLegacy: false });
    assert.deepEqual(verdict, { ok: true, scheme: 'hmac-sha256', keyIndex: 1 });
    assert.deepEqual(verifyWebhook(body, { 'x-nango-hmac-sha256': sig }, { keys: ['old-key'], acceptLegacy: false }), { ok: false, code: 'invalid_signature' });
});

test('the signature covers the exact bytes: a re-serialized body fails', () => {
    const raw = Buffer.from('{"b":1, "a":2}');
    const sig = createHmac('sha256', 'k').update(raw).digest('hex');
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    assert.equal(verifyWebhook(raw, { 'x-nango-hmac-sha256': sig }, { keys: ['k'], acceptLegacy: false }).ok, true);
    assert.equal(verifyWebhook(reserialized, { 'x-nango-hmac-sha256': sig }, { keys: ['k'], acceptLegacy: false }).ok, false);
});

test('malformed, repeated or missing headers are refused', () => {
    const opts = { keys: ['k'], acceptLegacy: true };
    const body = Buffer.from('x');
    assert.deepEqual(verifyWebhook(body, {}, opts), { ok: false, code: 'missing_signature' });
    assert.deepEqual(verifyWebhook(body, { 'x-nango-hmac-sha256': 'zz' }, opts), { ok: false, code: 'invalid_signature' });
    assert.deepEqual(verifyWebhook(body, { 'x-nango-hmac-sha256': ['a', 'b'] }, opts), { ok: false, code: 'missing_signature' });
    const sig = createHmac('sha256', 'k').update(body).digest('hex');
    assert.deepEqual(verifyWebhook(body, { 'x-nango-hmac-sha256': `${sig}, ${sig}` }, opts), { ok: false, code: 'invalid_signature' });
});
