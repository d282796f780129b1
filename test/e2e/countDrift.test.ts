import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { statusCommand, type StatusRow } from '../../src/commands/status.js';
import { testEngines } from '../helpers/engines.js';
import { fakeKey, startHarness, testKey, type Harness } from '../helpers/harness.js';

const engines = await testEngines();

const DRIFT_WARNING = /live rows disagree with Nango's record count/;

async function gauge(h: Harness): Promise<number> {
    const res = await fetch(`${h.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    const m = /^nango_mirror_count_drift_keys (\S+)$/m.exec(await res.text());
    assert.ok(m, 'nango_mirror_count_drift_keys is exported');
    return Number(m[1]);
}

for (const engine of engines) {
    describe(`[${engine}] count drift: the mirror's live rows against Nango's recordCount`, () => {
        let h: Harness;
        before(async () => {
            // No clock slack: the fake and the daemon share this machine's clock.
            h = await startHarness({ engine, daemon: { finishedAtSlackMs: 0 } });
            h.fake.setSyncs('hubspot', [{ name: 'contacts', models: ['Contact'] }]);
        });
        after(() => h.close());

        test('a row removed behind the mirror\'s back shows once a pull covered Nango\'s run and a pass read its count; variants and a count read before a pull do not', async () => {
            const key = testKey('Contact', 'conn-drift');
            // Nango reports the base variant's count (3, then 4) for this variant, which has 1 record: it must not count.
            const variant = testKey('Contact', 'conn-drift', 'emea');
            h.fake.save(fakeKey(key), [{ id: 'r1' }, { id: 'r2' }, { id: 'r3' }]);
            h.fake.save(fakeKey(variant), [{ id: 'v1' }]);
            for (const k of [key, variant]) assert.equal((await h.sendSync(k)).status, 200);
            await h.waitIdle();

            // The first pass stores Nango's counts; the pulls before it had none to compare with.
            await h.daemon.reconciler.runPass();
            assert.equal(await gauge(h), 0);

            // A Nango run adds a record and its webhook's pull sees it: Nango's stored count (3) predates
            // that run, so the 4 rows the pull leaves are no drift.
            h.fake.save(fakeKey(key), [{ id: 'r4' }]);
            for (const k of [key, variant]) assert.equal((await h.sendSync(k)).status, 200);
            await h.waitIdle();
            assert.equal(await gauge(h), 0, 'a count read before the pull is not compared');
            // The next pass reads 4 for both the key and the variant; the mirror agrees on the key.
            await h.daemon.reconciler.runPass();
            assert.equal(await gauge(h), 0, 'the mirror agrees with Nango (the variant, with 1 row against its base count 4, is left out)');
            assert.ok(!h.logs.some((l) => DRIFT_WARNING.test(l.msg)));

            // A row vanishes from the mirror behind its back; the next pull (nothing new in Nango) counts 3.
            await h.reader.exec(`DELETE FROM nango_records WHERE provider_config_key = 'hubspot' AND connection_id = 'conn-drift' AND model = 'Contact' AND variant = 'base' AND id = 'r2'`);
            assert.equal((await h.sendSync(key)).status, 200);
            await h.waitIdle();
            assert.equal(await gauge(h), 0, 'not until a pass reads Nango\'s count after that pull');
            await h.daemon.reconciler.runPass();
            assert.equal(await gauge(h), 1, 'live rows 3 at the pull, Nango counts 4');
            const warnings = h.logs.filter((l) => DRIFT_WARNING.test(l.msg));
            assert.equal(warnings.length, 1);
            assert.deepEqual(warnings[0]!['keys'], [{ key: 'hubspot/conn-drift/Contact', mirrorLiveRows: 3, nangoRecordCount: 4 }]);

            // `status` shows Nango's count and the drift beside it.
            const lines: string[] = [];
            assert.equal(await statusCommand(h.config, { json: false, connection: 'conn-drift' }, (l) => lines.push(l)), 0);
            assert.match(lines.find((l) => l.startsWith('hubspot/conn-drift/Contact ')) ?? '', /\s4 \(drift: 3 at last pull\)\s/);
            assert.match(lines.find((l) => l.startsWith('hubspot/conn-drift/Contact::emea ')) ?? '', /\s1\s+0\s+-\s/, 'no Nango count shown for a variant');
            const json: string[] = [];
            await statusCommand(h.config, { json: true, connection: 'conn-drift' }, (l) => json.push(l));
            const rows = JSON.parse(json.join('\n')) as StatusRow[];
            assert.deepEqual(rows.map((r) => [r.variant, r.countDrift, r.liveRowsAtFinish, r.nangoRecordCount]), [['base', true, 3, 4], ['emea', false, null, 4]]);

            // Nango sends the record again (a run that changed it): the pull restores the row, and the next pass agrees.
            h.fake.save(fakeKey(key), [{ id: 'r2', name: 'changed' }]);
            assert.equal((await h.sendSync(key)).status, 200);
            await h.waitIdle();
            await h.daemon.reconciler.runPass();
            assert.equal(await gauge(h), 0);
            assert.equal(h.logs.filter((l) => DRIFT_WARNING.test(l.msg)).length, 1, 'no warning once they agree');
        });
    });
}
