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
                    const res = await page.goto(`${h.daemon.url}/?refresh=1`, { waitUntil: 'load' });
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
                const res = await fetch(`${h.daemon.url}/status.json`);
                assert.equal(res.status, 200);
                const body: any = await res.json();
                assert.equal(body.keyCount, 4);
                assert.ok(body.keys.some((k: any) => k.connectionId === HOSTILE_CONNECTION));
                assert.equal(body.counters.nango_mirror_webhooks_total.find((v: any) => v.labels.type === 'sync' && v.labels.outcome === 'accepted')?.value, 5);

                // The refresh keeps the last good data and says it failed.
                const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
                try {
                    await page.goto(`${h.daemon.url}/?refresh=1`);
                    await page.waitForSelector('#keys tbody tr');
                    await page.route('**/?refresh=1', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{}' }));
                    await waitFor(() => page.locator('#refresh-error').isVisible(), 10_000, 'the refresh error banner');
                    assert.match((await page.locator('#refresh-error').textContent()) ?? '', /Refresh failed \(HTTP 503\)/);
                    assert.equal(await page.locator('#keys tbody tr').count(), 4);
                } finally {
                    await page.close();
                }
            });
        });
    }
});
