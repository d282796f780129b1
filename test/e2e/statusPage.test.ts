import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { syncErrorBody, postWebhook } from '../fakes/webhooks.js';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, makeTempDir, SIGNING_KEY, startHarness, testKey, waitFor, type Harness } from '../helpers/harness.js';

/**
 * The status page in a real browser: Debian's chromium, headless, driven by playwright-core
 * (never a downloaded browser). Without /usr/bin/chromium the file is skipped loudly, unless
 * CI or REQUIRE_BROWSER is set, which makes it fail.
 * STATUS_PAGE_SCREENSHOT_DIR=<dir> keeps the screenshots, to look at them.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const browserRequired = Boolean(process.env['CI'] || process.env['REQUIRE_BROWSER']);
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && !browserRequired) {
    console.warn(`\n*** ${CHROMIUM} is missing: THE STATUS PAGE BROWSER TESTS ARE SKIPPED. Install it with: apt-get install -y chromium ***\n`);
}

const HOSTILE_CONNECTION = '<img src=x onerror=alert(1)>';
const HOSTILE_ERROR = '<script>window.__pwned = 1</script><b>bold</b>';
const HOSTILE_NANGO_ERROR = '"><svg onload=alert(2)>';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The text of each cell of the row whose key cell reads exactly `key`. */
async function rowCells(page: Page, key: string): Promise<string[] | undefined> {
    return page.$$eval(
        '#keys tbody tr',
        (rows, wanted) => {
            const row = rows.find((r) => r.querySelector('td.key')?.textContent === wanted);
            return row ? [...row.querySelectorAll('td')].map((td) => (td.textContent ?? '').replace(/\s+/g, ' ').trim()) : undefined;
        },
        key,
    );
}

const engines = await testEngines();

if (!haveBrowser && browserRequired) {
    test(`${CHROMIUM} is installed (CI or REQUIRE_BROWSER is set)`, () => {
        assert.fail(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
    });
}

describe('status page (GET /) in headless chromium', { skip: haveBrowser ? false : `${CHROMIUM} is missing` }, () => {
    let browser: Browser;
    before(async () => {
        browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
    });
    after(() => browser?.close());

    for (const engine of engines) {
        describe(`[${engine}]`, () => {
            let h: Harness;
            let dir: string;
            before(async () => {
                h = await startHarness({ engine });
                dir = makeTempDir('nango-mirror-screenshot-');
            });
            after(async () => {
                await h.close();
                rmSync(dir, { recursive: true, force: true });
            });

            test('shows every key, the counters, hostile values as text, and refreshes itself', async () => {
                const ok = testKey('Contact', 'conn-page-ok');
                const failing = testKey('Deal', 'conn-page-failing');
                const hostile = testKey('Contact', HOSTILE_CONNECTION);
                const late = testKey('Company', 'conn-page-late');
                for (const k of [ok, failing, late]) h.fake.addConnection(k.providerConfigKey, k.connectionId);
                h.fake.save(fakeKey(ok), [{ id: '1' }, { id: '2' }, { id: '3' }]);
                h.fake.save(fakeKey(late), [{ id: 'c1' }]);
                assert.equal((await h.sendSync(ok)).status, 200);
                await h.waitIdle();
                h.fake.failNext(3, { status: 500, body: { error: { code: 'server_error', message: HOSTILE_ERROR } } });
                assert.equal((await h.sendSync(failing)).status, 200);
                await h.waitIdle();
                // Nango refuses the hostile connection id; the key fails with an error that may echo it.
                assert.equal((await h.sendSync(hostile)).status, 200);
                await h.waitIdle();
                const failed = syncErrorBody({ ...ok, description: HOSTILE_NANGO_ERROR });
                assert.equal((await postWebhook(h.webhookUrl, failed, SIGNING_KEY)).status, 200);
                assert.equal((await h.sendSync(ok, 'a-wrong-signing-key-0000000000000')).status, 401);
                assert.match((await h.state(failing))?.last_error ?? '', /<script>/, 'the hostile message reached last_error');

                const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
                const dialogs: string[] = [];
                const pageErrors: string[] = [];
                const consoleErrors: string[] = [];
                page.on('dialog', (d) => {
                    dialogs.push(d.message());
                    void d.dismiss();
                });
                page.on('pageerror', (err) => pageErrors.push(err.message));
                page.on('console', (msg) => {
                    if (msg.type() === 'error') consoleErrors.push(msg.text());
                });
                try {
                    const res = await page.goto(`${h.adminUrl}/?refresh=1`, { waitUntil: 'load' });
                    assert.equal(res?.status(), 200);
                    assert.match(res?.headers()['content-type'] ?? '', /^text\/html/);
                    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
                    await page.waitForSelector('#keys tbody tr');
                    assert.equal(await page.title(), 'nango-mirror status');

                    // One row per key, with status, lag, rows, last error and failures.
                    assert.equal(await page.locator('#keys tbody tr').count(), 3);
                    const okCells = await rowCells(page, 'hubspot/conn-page-ok/Contact');
                    assert.ok(okCells, 'the ok key has a row');
                    assert.equal(okCells[1], 'ok');
                    assert.match(okCells[2]!, /^\d+ s$/, `lag of the ok key: ${okCells[2]}`);
                    assert.equal(okCells[3], '3');
                    assert.ok(okCells[4]!.includes(`Nango sync error: script_error: ${HOSTILE_NANGO_ERROR}`), `Nango's error shows as text: ${okCells[4]}`);
                    assert.equal(okCells[5], '0');
                    const failingCells = await rowCells(page, 'hubspot/conn-page-failing/Deal');
                    assert.ok(failingCells, 'the failing key has a row');
                    assert.equal(failingCells[1], 'failed');
                    assert.equal(failingCells[2], 'never');
                    assert.ok(failingCells[4]!.includes(HOSTILE_ERROR), `the error shows as text: ${failingCells[4]}`);
                    assert.equal(failingCells[5], '1');

                    // The hostile connection id is text, not markup: no element was made from any of it.
                    const hostileCells = await rowCells(page, `hubspot/${HOSTILE_CONNECTION}/Contact`);
                    assert.ok(hostileCells, 'the hostile key shows as text');
                    assert.equal(await page.locator('img, svg, b').count(), 0);
                    assert.equal(await page.locator('script').count(), 1, 'only the page’s own script');
                    // (Strings run in the page: this project's tsconfig has no DOM types.)
                    assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined');

                    // The counters, read from the daemon's registry.
                    const webhooks = page.locator('[data-metric="nango_mirror_webhooks_total"]');
                    await webhooks.waitFor();
                    const webhookText = (await webhooks.textContent()) ?? '';
                    assert.match(webhookText, /sync · accepted\s*4/, 'three sync webhooks and a failed-sync one');
                    assert.match(webhookText, /unknown · invalid_signature\s*1/);
                    assert.match((await page.locator('[data-metric="nango_mirror_records_written_total"]').textContent()) ?? '', /upserted\s*3/);
                    assert.match((await page.locator('.tile', { hasText: 'Webhooks' }).textContent()) ?? '', /Webhooks\s*5\s*1 rejected/);
                    // The inline style applied (its CSP hash matches).
                    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('.badge')).borderRadius"), '10px');

                    // It refreshes itself, in place: a key that appears later shows without a reload.
                    await page.evaluate('window.__sameDocument = true');
                    assert.equal((await h.sendSync(late)).status, 200);
                    await h.waitIdle();
                    await page.locator('#keys td.key').getByText('hubspot/conn-page-late/Company', { exact: true }).waitFor({ timeout: 10_000 });
                    assert.equal(await page.evaluate('window.__sameDocument'), true, 'the same document: refreshed in place, not reloaded');
                    assert.equal(await page.locator('#keys tbody tr').count(), 4);
                    assert.equal(await page.locator('#refresh-error').isHidden(), true);

                    const shot = join(dir, `status-${engine}.png`);
                    await page.screenshot({ path: shot, fullPage: true });
                    const png = readFileSync(shot);
                    assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG file');
                    assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
                    assert.equal(png.readUInt32BE(16), 1280, 'as wide as the viewport');
                    assert.ok(png.readUInt32BE(20) >= 400, 'a page, not a sliver');
                    assert.ok(png.length > 20_000, `a screenshot with content, not a blank page (${png.length} bytes)`);
                    const keep = process.env['STATUS_PAGE_SCREENSHOT_DIR'];
                    if (keep) {
                        mkdirSync(keep, { recursive: true });
                        copyFileSync(shot, join(keep, `status-${engine}.png`));
                    }

                    assert.deepEqual(dialogs, [], 'no script from a key or an error ran');
                    assert.deepEqual(pageErrors, []);
                    assert.deepEqual(consoleErrors, [], 'no CSP violation or other console error');
                } finally {
                    await page.close();
                }
            });

            test('GET /status.json has the same data; a failed refresh keeps the last data and says so', async () => {
                const res = await fetch(`${h.adminUrl}/status.json`);
                assert.equal(res.status, 200);
                const body: any = await res.json();
                assert.equal(body.keyCount, 4);
                assert.ok(body.keys.some((k: any) => k.connectionId === HOSTILE_CONNECTION));
                assert.equal(body.counters.nango_mirror_webhooks_total.find((v: any) => v.labels.type === 'sync' && v.labels.outcome === 'accepted')?.value, 5);

                // The refresh keeps the last good data and says it failed.
                const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
                try {
                    await page.goto(`${h.adminUrl}/?refresh=1`);
                    await page.waitForSelector('#keys tbody tr');
                    await page.route('**/?refresh=1', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{}' }));
                    await waitFor(() => page.locator('#refresh-error').isVisible(), 10_000, 'the refresh error banner');
                    assert.match((await page.locator('#refresh-error').textContent()) ?? '', /Refresh failed \(HTTP 503\)/);
                    assert.equal(await page.locator('#keys tbody tr').count(), 4);
                } finally {
                    await page.close();
                }
            });

            test('pages of keys: the Next and Previous links lead from page to page', async () => {
                const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
                const consoleErrors: string[] = [];
                page.on('console', (msg) => {
                    if (msg.type() === 'error') consoleErrors.push(msg.text());
                });
                try {
                    await page.goto(`${h.adminUrl}/?per_page=3&refresh=60`);
                    const pager = page.locator('nav.pager').first();
                    assert.match((await pager.textContent()) ?? '', /Keys 1–3 of 4 · page 1 of 2/);
                    const firstPage = await page.locator('#keys td.key').allTextContents();
                    // Both failing keys (never successful) lead, by key in byte order ('<' before 'c').
                    assert.deepEqual(firstPage.slice(0, 2), [`hubspot/${HOSTILE_CONNECTION}/Contact`, 'hubspot/conn-page-failing/Deal'], 'the failing keys lead');
                    await pager.getByRole('link', { name: 'Next →' }).click();
                    await page.waitForURL(/[?&]page=2/);
                    assert.match((await page.locator('nav.pager').first().textContent()) ?? '', /Keys 4–4 of 4 · page 2 of 2/);
                    const secondPage = await page.locator('#keys td.key').allTextContents();
                    assert.equal(secondPage.length, 1);
                    assert.ok(!firstPage.includes(secondPage[0]!), 'another key than the first page’s');
                    await page.locator('nav.pager').first().getByRole('link', { name: '← Previous' }).click();
                    await page.waitForURL((url) => !url.search.includes('page=2'));
                    assert.deepEqual(await page.locator('#keys td.key').allTextContents(), firstPage);
                    assert.deepEqual(consoleErrors, []);
                } finally {
                    await page.close();
                }
            });
        });
    }

    test('with admin.token: 401 without it; /login?token= sets an HttpOnly, SameSite=Strict cookie, lands on /, and the page refreshes in place with it', async () => {
        const token = 'admin-token-0123456789abcdef';
        const h = await startHarness({ config: { admin: { token } } });
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        try {
            assert.equal((await h.sendSync(testKey('Contact', 'conn-login'))).status, 200);
            await h.waitIdle();
            const page = await context.newPage();
            assert.equal((await page.goto(`${h.adminUrl}/`))?.status(), 401);
            const landed = await page.goto(`${h.adminUrl}/login?token=${token}`);
            assert.equal(landed?.status(), 200);
            assert.equal(page.url(), `${h.adminUrl}/`, 'the token left the address bar');
            assert.equal(await page.locator('#keys tbody tr').count(), 1);
            const [cookie, ...others] = await context.cookies();
            assert.deepEqual([cookie?.name, cookie?.httpOnly, cookie?.sameSite, others.length], ['nango_mirror_login', true, 'Strict', 0]);
            const refreshed = page.waitForResponse((r) => r.request().resourceType() === 'fetch' && r.url().includes('refresh=1'), { timeout: 10_000 });
            await page.goto(`${h.adminUrl}/?refresh=1`);
            assert.equal((await refreshed).status(), 200, 'the in-place refresh carries the cookie');
        } finally {
            await context.close();
            await h.close();
        }
    });
});

/** Paging and its query parameters, over HTTP (no browser needed). */
for (const engine of engines) {
    describe(`[${engine}] status page paging: GET /status.json and GET / take ?page, ?per_page and filters`, () => {
        let h: Harness;
        // Expected order: the failing key, then the ok keys by last success, oldest first (not by key).
        const failing = testKey('Contact', 'conn-paging-f');
        const oldest = testKey('Contact', 'conn-paging-z');
        const middle = testKey('Contact', 'conn-paging-a');
        const newest = testKey('Contact', 'conn-paging-m');
        const order = [failing, oldest, middle, newest].map((k) => k.connectionId);
        const json = async (query: string) => {
            const res = await fetch(`${h.adminUrl}/status.json${query}`);
            return { status: res.status, body: (await res.json()) as any };
        };
        const html = async (query: string) => {
            const res = await fetch(`${h.adminUrl}/${query}`);
            assert.equal(res.status, 200, query);
            return res.text();
        };

        before(async () => {
            h = await startHarness({ engine });
            for (const k of [failing, oldest, middle, newest]) h.fake.addConnection(k.providerConfigKey, k.connectionId);
            h.fake.save(fakeKey(oldest), [{ id: '1' }, { id: '2' }]);
            for (const k of [oldest, middle, newest]) {
                assert.equal((await h.sendSync(k)).status, 200);
                await h.waitIdle();
            }
            h.fake.failNext(3, { status: 500, body: { error: { code: 'server_error', message: 'down' } } });
            assert.equal((await h.sendSync(failing)).status, 200);
            await h.waitIdle();
            assert.equal((await h.state(failing))?.status, 'failed');
        });
        after(() => h?.close());

        test('/status.json: failing keys first, then the longest since a success; figures over every key', async () => {
            const { status, body } = await json('');
            assert.equal(status, 200);
            assert.deepEqual(body.keys.map((k: any) => k.connectionId), order);
            assert.deepEqual(body.paging, { page: 1, perPage: 100, pages: 1, total: 4, first: 1, last: 4, filter: {} });
            assert.deepEqual([body.keyCount, body.statusCounts, body.pendingKeys], [4, { failed: 1, ok: 3 }, 1]);
            assert.equal(body.keys.find((k: any) => k.connectionId === oldest.connectionId).liveRows, 2);
        });

        test('/status.json pages: ?per_page and ?page cut the same order; past the last page, no keys', async () => {
            const first = await json('?per_page=3');
            assert.deepEqual(first.body.keys.map((k: any) => k.connectionId), order.slice(0, 3));
            assert.deepEqual(first.body.paging, { page: 1, perPage: 3, pages: 2, total: 4, first: 1, last: 3, filter: {} });
            const second = await json('?per_page=3&page=2');
            assert.deepEqual(second.body.keys.map((k: any) => k.connectionId), order.slice(3));
            assert.deepEqual([second.body.paging.first, second.body.paging.last, second.body.paging.pages], [4, 4, 2]);
            const past = await json('?per_page=3&page=3');
            assert.equal(past.status, 200);
            assert.deepEqual([past.body.keys, past.body.paging.page, past.body.paging.first, past.body.paging.last, past.body.paging.total], [[], 3, 0, 0, 4]);
        });

        test('/status.json filters: by status as shown, integration and connection; the figures stay over every key', async () => {
            const failed = await json('?status=failed');
            assert.deepEqual(failed.body.keys.map((k: any) => k.connectionId), [failing.connectionId]);
            assert.deepEqual([failed.body.paging.total, failed.body.paging.filter, failed.body.keyCount], [1, { status: 'failed' }, 4]);
            const one = await json(`?integration=hubspot&connection=${oldest.connectionId}`);
            assert.deepEqual(one.body.keys.map((k: any) => [k.connectionId, k.liveRows]), [[oldest.connectionId, 2]]);
            assert.deepEqual((await json('?integration=nobody')).body.paging.total, 0);
        });

        test('/status.json refuses a bad parameter with 400 invalid_query, naming it', async () => {
            const bad = ['page=0', 'page=-1', 'page=1.5', 'page=abc', 'page=', 'page=1&page=2', 'page=99999999999', 'per_page=0', 'per_page=501', 'status=broken', 'integration=', `connection=${'x'.repeat(256)}`];
            for (const query of bad) {
                const res = await fetch(`${h.adminUrl}/status.json?${query}`);
                assert.equal(res.status, 400, query);
                assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
                const body: any = await res.json();
                assert.equal(body.error.code, 'invalid_query', query);
                assert.equal(body.error.message.split(':')[0], query.split('=')[0], `${query}: ${body.error.message}`);
            }
            // Parameters it does not know are left alone (a cache buster, say).
            assert.equal((await json('?per_page=500&_=123')).status, 200);
        });

        test('GET /: "keys X–Y of Z" with links to the pages around, that keep the page size, filter and refresh', async () => {
            const first = await html('?per_page=3&refresh=60');
            assert.ok(first.includes('Keys 1–3 of 4 · page 1 of 2'), 'the first page says which keys it shows');
            assert.ok(first.includes('<a rel="next" href="/?page=2&amp;per_page=3&amp;refresh=60">'), 'a link to the next page');
            assert.ok(!first.includes('rel="prev"'), 'no page before the first');
            const second = await html('?page=2&per_page=3&refresh=60');
            assert.ok(second.includes('Keys 4–4 of 4 · page 2 of 2'));
            assert.ok(second.includes('<a rel="prev" href="/?per_page=3&amp;refresh=60">'), 'a link to the page before');
            assert.ok(!second.includes('rel="next"'), 'no page after the last');
            assert.equal([...second.matchAll(/<td class="key"/g)].length, 1);
            // The default refresh is not added to the links; a filter is kept.
            const failedOnly = await html('?status=failed');
            assert.ok(failedOnly.includes('Keys 1–1 of 1 · page 1 of 1'));
            assert.match(failedOnly, /Only keys with status <code>failed<\/code>\. <a href="\/">All keys<\/a>/);
        });

        test('GET / is lenient: a bad parameter is as if absent, a page past the last shows the last', async () => {
            assert.ok((await html('?page=abc&per_page=9999&status=broken')).includes('Keys 1–4 of 4 · page 1 of 1'));
            assert.ok((await html('?page=50&per_page=3')).includes('Keys 4–4 of 4 · page 2 of 2'));
        });

        test('GET /: a hostile filter value shows as text', async () => {
            const hostile = '"><script>window.__pwned = 1</script>';
            const page = await html(`?connection=${encodeURIComponent(hostile)}&per_page=3`);
            assert.ok(page.includes('No key matches this filter.'));
            assert.ok(page.includes('connection <code>&quot;&gt;&lt;script&gt;window.__pwned = 1&lt;/script&gt;</code>'), 'escaped in the filter note');
            assert.ok(!page.includes(hostile), 'never as markup');
            assert.equal([...page.matchAll(/<script>/g)].length, 1, 'only the page’s own script');
        });
    });
}
