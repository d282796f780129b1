import { rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { FakeNango } from '../fakes/fakeNango.js';
import type { DaemonProcess } from './daemonProcess.js';
import { createTestDatabase, type MirrorReader, type TestDatabase } from './engines.js';
import { API_KEY, makeTempDir } from './harness.js';

/** What a test of several daemons on one Postgres mirror shares; set once `before` has run. */
export interface PostgresReplicas {
    fake: FakeNango;
    dir: string;
    database: TestDatabase;
    reader: MirrorReader;
    /** The daemons the test starts: SIGKILLed after the suite, whatever state they are in. */
    daemons: DaemonProcess[];
}

/**
 * Inside a `describe`: one fake Nango and one Postgres mirror for the suite's daemons, made before
 * its tests and removed after them (the daemons killed first).
 */
export function usePostgresReplicas(): PostgresReplicas {
    const shared = { daemons: [] as DaemonProcess[] } as PostgresReplicas;
    before(async () => {
        shared.fake = new FakeNango({ apiKey: API_KEY });
        await shared.fake.start();
        shared.dir = makeTempDir();
        shared.database = await createTestDatabase('postgres', shared.dir);
        shared.reader = shared.database.reader();
    });
    after(async () => {
        for (const d of shared.daemons) d.proc.kill('SIGKILL');
        await shared.reader.close();
        await shared.database.drop();
        await shared.fake.stop();
        rmSync(shared.dir, { recursive: true, force: true });
    });
    return shared;
}
