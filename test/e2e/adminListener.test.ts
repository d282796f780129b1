import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/main.js';
import { createLogger } from '../../src/lib/logger.js';
import { spawnDaemon, writeConfig } from '../helpers/daemonProcess.js';
import { testEngines } from '../helpers/engines.js';
import { SIGNING_KEY, startHarness, testConfig, type Harness, type LogLine } from '../helpers/harness.js';

const TOKEN = 'admin-token-0123456789abcdef';
const OPERATOR_PATHS = ['/', '/status.json', '/metrics', '/admin/keys', '/login?token=' + TOKEN];
const WARNING = /server\.adminHost is not a loopback address and admin\.token is not set/;

async function status(url: string, init: RequestInit = {}): Promise<number> {
    const res = await fetch(url, { redirect: 'manual', ...init });
    await res.arrayBuffer();
    return res.status;
}

const bearer = { headers: { authorization: `Bearer ${TOKEN}` } };
const engines = await testEngines();

for (const engine of engines) {
    describe(`[${engine}] operator surfaces on their own listener (server.adminPort)`, () => {
        let h: Harness;
        before(async () => {
            h = await startHarness({ engine });
        });
        after(() => h.close());

        test('the public port serves only the webhook path, /healthz and /readyz: the operator paths are a JSON 404', async () => {
            assert.notEqual(h.daemon.adminPort, h.daemon.port);
            for (const path of OPERATOR_PATHS) {
                const res = await fetch(`${h.daemon.url}${path}`, { ...bearer, redirect: 'manual' });
                assert.equal(res.status, 404, `GET ${path} on the public port`);
                assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
            }
            assert.equal(await status(`${h.daemon.url}/healthz`), 200);
            assert.equal(await status(`${h.daemon.url}/readyz`), 200);
            assert.equal((await h.sendSync({ providerConfigKey: 'hubspot', connectionId: 'c1', model: 'Contact', variant: 'base' })).status, 200);
            const running = h.logs.find((l) => l.msg === 'nango-mirror is running');
            assert.deepEqual([running?.['port'], running?.['adminPort'], running?.['adminHost']], [h.daemon.port, h.daemon.adminPort, '127.0.0.1']);
            assert.equal(h.logs.filter((l) => WARNING.test(l.msg)).length, 0, 'no warning on loopback');
        });

        test('without admin.token the admin listener serves the status page, /status.json, /metrics and health; the admin API stays off', async () => {
            for (const path of ['/', '/status.json', '/metrics', '/healthz', '/readyz']) assert.equal(await status(`${h.adminUrl}${path}`), 200, `GET ${path} on the admin port`);
            assert.equal(await status(`${h.adminUrl}/admin/keys`, bearer), 404);
            assert.equal(await status(`${h.adminUrl}/login?token=${TOKEN}`), 404);
        });

        test('with admin.token: the status page and /status.json need it (bearer, or the /login cookie); /metrics does not', async () => {
            await h.restart({ admin: { token: TOKEN } });
            for (const path of OPERATOR_PATHS) assert.equal(await status(`${h.daemon.url}${path}`, bearer), 404, `GET ${path} on the public port`);
            const refused = await fetch(`${h.adminUrl}/status.json`);
            assert.equal(refused.status, 401);
            assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'unauthorized');
            assert.equal(await status(`${h.adminUrl}/`), 401);
            assert.equal(await status(`${h.adminUrl}/status.json`, { headers: { authorization: 'Bearer wrong-token-0123456789' } }), 401);
            assert.equal(await status(`${h.adminUrl}/status.json`, bearer), 200);
            assert.equal(await status(`${h.adminUrl}/`, bearer), 200);
            assert.equal(await status(`${h.adminUrl}/admin/keys`, bearer), 200);
            assert.equal(await status(`${h.adminUrl}/metrics`), 200);

            // The browser's way: a wrong token is refused; the right one sets the cookie and leaves the URL.
            assert.equal(await status(`${h.adminUrl}/login?token=wrong-token-0123456789`), 401);
            assert.equal(await status(`${h.adminUrl}/login`), 401);
            const login = await fetch(`${h.adminUrl}/login?token=${TOKEN}`, { redirect: 'manual' });
            assert.equal(login.status, 303);
            assert.equal(login.headers.get('location'), '/');
            const setCookie = login.headers.get('set-cookie') ?? '';
            assert.match(setCookie, /^nango_mirror_login=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
            assert.ok(!setCookie.includes(TOKEN), 'the cookie does not hold the token');
            const cookie = { headers: { cookie: setCookie.split(';')[0]! } };
            assert.equal(await status(`${h.adminUrl}/`, cookie), 200);
            assert.equal(await status(`${h.adminUrl}/status.json`, cookie), 200);
            assert.equal(await status(`${h.adminUrl}/status.json`, { headers: { cookie: 'nango_mirror_login=forged' } }), 401);
            // The cookie opens the page, not the admin API (bearer only).
            assert.equal(await status(`${h.adminUrl}/admin/keys`, cookie), 401);
        });
    });
}

describe('server.adminHost, server.adminPort at start-up', () => {
    test('a non-loopback admin host without admin.token logs one warning; with the token, none', async () => {
        const h = await startHarness({ config: { server: { host: '127.0.0.1', port: 0, adminHost: '0.0.0.0', adminPort: 0 } } });
        try {
            const warnings = h.logs.filter((l) => WARNING.test(l.msg));
            assert.equal(warnings.length, 1);
            assert.equal(warnings[0]!.level, 40);
            assert.equal(warnings[0]!['adminHost'], '0.0.0.0');
            assert.equal(await status(`${h.adminUrl}/status.json`), 200, 'reached through loopback');
            const before = h.logs.length;
            await h.restart({ server: { host: '127.0.0.1', port: 0, adminHost: '0.0.0.0', adminPort: 0 }, admin: { token: TOKEN } });
            assert.equal(h.logs.slice(before).filter((l) => WARNING.test(l.msg)).length, 0);
        } finally {
            await h.close();
        }
    });

    test('the real CLI process (`nango-mirror serve`): 404 on the public port, 200 on the admin port, 401 for /status.json without the token', async () => {
        const h = await startHarness();
        await h.daemon.stop();
        const config = { nango: { host: h.fake.baseUrl!, apiKey: h.config.nango.apiKey, webhookSigningKey: SIGNING_KEY }, database: h.database.database, server: { host: '127.0.0.1', port: 0, adminPort: 0 }, admin: { token: TOKEN } };
        const daemon = await spawnDaemon(writeConfig(h.dir, config, 'process.json'));
        try {
            for (const path of ['/', '/metrics', '/status.json', '/admin/keys']) assert.equal(await status(`${daemon.url}${path}`, bearer), 404, `GET ${path} on the public port`);
            for (const path of ['/', '/metrics', '/status.json', '/admin/keys']) assert.equal(await status(`${daemon.adminUrl}${path}`, bearer), 200, `GET ${path} on the admin port`);
            assert.equal(await status(`${daemon.adminUrl}/status.json`), 401);
        } finally {
            await daemon.kill('SIGTERM');
            await h.close();
        }
    });

    test('server.adminPort equal to server.port is a config error naming the key; both 0 is fine', () => {
        const base = { nango: { apiKey: 'k', webhookSigningKey: 's' } };
        assert.throws(() => parseConfig({ ...base, server: { port: 9000, adminPort: 9000 } }, {}), /server\.adminPort: must differ from server\.port/);
        assert.throws(() => parseConfig({ ...base, server: { port: 9090 } }, {}), /server\.adminPort/);
        assert.equal(parseConfig({ ...base, server: { port: 0, adminPort: 0 } }, {}).server.adminPort, 0);
        assert.deepEqual(
            (({ adminHost, adminPort }) => ({ adminHost, adminPort }))(parseConfig(base, {}).server),
            { adminHost: '127.0.0.1', adminPort: 9090 },
        );
    });

    test('an admin port in use fails the start naming server.adminPort, and the public port opened before it is released', async () => {
        const taken = await listenOn(0);
        const publicPort = await freePort();
        const h = await startHarness();
        const logs: LogLine[] = [];
        const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
        try {
            const config = testConfig(h.fake.baseUrl!, h.database.database, { server: { host: '127.0.0.1', port: publicPort, adminPort: port(taken) } });
            await h.daemon.stop();
            await assert.rejects(startDaemon(config, { logger }), /server\.adminPort: 127\.0\.0\.1:\d+ is already in use/);
            // The public listener it had opened is closed: its port can be taken again.
            await new Promise<void>((resolve) => listenOn(publicPort).then((s) => s.close(() => resolve())));
        } finally {
            taken.close();
            await h.close();
        }
    });
});

function listenOn(p: number): Promise<Server> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(p, '127.0.0.1', () => resolve(server));
    });
}

function port(server: Server): number {
    return (server.address() as { port: number }).port;
}

async function freePort(): Promise<number> {
    const s = await listenOn(0);
    const p = port(s);
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return p;
}
