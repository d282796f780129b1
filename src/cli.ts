#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isConfigError, loadConfigFile, loadDatabaseConfigFile, loadServerConfigFile, resolveConfigPath } from './config/load.js';
import { applyLeanHeap } from './lib/leanHeap.js';
import { createLogger } from './lib/logger.js';
import { KEY_STATES, type KeyState } from './domain/keyState.js';
import { openStore } from './storage/openStore.js';

// Each command's modules are loaded when it runs: the daemon does not carry the CLI's (backup
// loads better-sqlite3 whatever the engine), and `healthcheck`, run every few seconds by the
// image's HEALTHCHECK, does not load the daemon's.

const USAGE = `Usage: nango-mirror <command> [--config <file>]

Commands:
  serve                                   run the daemon (what \`npm start\` runs)
  migrate                                 apply database migrations and exit (reads only database.*)
  backup <file> [--force]                 a consistent copy of a SQLite mirror, safe while the daemon
                                          runs; refuses an existing file without --force. Postgres:
                                          exits 2 and shows the pg_dump line to use instead
  healthcheck                             GET /healthz on server.host/server.port; exit 0 if it
                                          answers 2xx, else 1 (the Docker image's HEALTHCHECK)
  status [--json [--views]] [--integration i] [--connection c] [--status s]
                                          one row per key: status, Nango's status, cursor age, last
                                          success, rows, errors; s is pending, running, ok, failed or gone;
                                          then the typed views generated from Nango's schemas. --json
                                          prints the keys' array; with --views, {keys, views}
  sync <providerConfigKey> <connectionId> <model> [--variant v] [--wait]
                                          request a pull; --wait exits 0 once the mirror is current
  resync <providerConfigKey> <connectionId> <model> [--variant v] [--sweep] [--wait]
                                          forget the cursor and read from the start; --sweep deletes
                                          rows the full read does not find (soft mode: deleted_at)
  changes [--after seq] [--limit n] [--follow] [--integration i] [--connection c] [--model m]
                                          the change log as JSON lines, oldest first (reads only
                                          database.*); --follow keeps printing changes as they commit.
                                          Exits 3 when --after is older than the retention kept
  codegen [--out <file>]                  TypeScript for the typed views generated from Nango's
                                          schemas: drizzle view definitions (the configured engine)
                                          and a row type per model; stdout without --out. Reads the
                                          database's record of the views (works offline)

sync and resync work with the daemon running (they go through the database) and without it
(then this process pulls). The config file is --config, else $NANGO_MIRROR_CONFIG, else ./config.json. database.url, when the
file leaves it out, is $NANGO_MIRROR_DATABASE_URL if set, else sqlite:./data/mirror.db.`;

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
            config: { type: 'string', short: 'c' },
            help: { type: 'boolean', short: 'h' },
            json: { type: 'boolean' },
            integration: { type: 'string' },
            connection: { type: 'string' },
            status: { type: 'string' },
            variant: { type: 'string' },
            wait: { type: 'boolean' },
            sweep: { type: 'boolean' },
            views: { type: 'boolean' },
            out: { type: 'string', short: 'o' },
            force: { type: 'boolean' },
            after: { type: 'string' },
            limit: { type: 'string' },
            model: { type: 'string' },
            follow: { type: 'boolean', short: 'f' },
        },
    });
    const command = positionals[0] ?? 'serve';
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    const configPath = resolveConfigPath(values.config);
    switch (command) {
        case 'serve':
            return serve(configPath);
        case 'migrate':
            return migrate(configPath);
        case 'backup': {
            const file = positionals[1];
            if (file === undefined || positionals.length > 2) {
                console.error(`Expected: nango-mirror backup <file> [--force]\n\n${USAGE}`);
                return 2;
            }
            const { backupCommand } = await import('./commands/backup.js');
            return backupCommand(loadDatabaseConfigFile(configPath), { file, force: values.force ?? false });
        }
        case 'healthcheck': {
            const { healthcheckCommand } = await import('./commands/healthcheck.js');
            return healthcheckCommand(loadServerConfigFile(configPath));
        }
        case 'status': {
            const status = values.status;
            if (status !== undefined && !(KEY_STATES as readonly string[]).includes(status)) {
                console.error(`--status: expected one of ${KEY_STATES.join(', ')}, got ${JSON.stringify(status)}.`);
                return 2;
            }
            const { statusCommand } = await import('./commands/status.js');
            return statusCommand(loadConfigFile(configPath), { json: values.json ?? false, views: values.views ?? false, integration: values.integration, connection: values.connection, status: status as KeyState | undefined });
        }
        case 'changes':
            return changes(configPath, values);
        case 'codegen': {
            if (positionals.length > 1) {
                console.error(`Expected: nango-mirror codegen [--out <file>]\n\n${USAGE}`);
                return 2;
            }
            const { codegenCommand } = await import('./commands/codegen.js');
            return codegenCommand(loadConfigFile(configPath), { out: values.out });
        }
        case 'sync':
        case 'resync': {
            const [, providerConfigKey, connectionId, model] = positionals;
            if (!providerConfigKey || !connectionId || !model || positionals.length > 4) {
                console.error(`Expected: nango-mirror ${command} <providerConfigKey> <connectionId> <model> [--variant v]\n\n${USAGE}`);
                return 2;
            }
            if (values.sweep && command !== 'resync') {
                console.error('--sweep goes with resync: a sweep only makes sense after a full read.');
                return 2;
            }
            const { requestPullCommand } = await import('./commands/requestPull.js');
            return requestPullCommand(loadConfigFile(configPath), {
                key: { providerConfigKey, connectionId, model, variant: values.variant ?? 'base' },
                reset: command === 'resync',
                sweep: values.sweep ?? false,
                wait: values.wait ?? false,
            });
        }
        default:
            console.error(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
            return 2;
    }
}

async function serve(configPath: string): Promise<number> {
    const config = loadConfigFile(configPath);
    const logger = createLogger(config.logLevel);
    applyLeanHeap();
    const { startDaemon } = await import('./main.js');
    const daemon = await startDaemon(config, { logger });
    return new Promise<number>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
            logger.info({ signal }, 'signal received');
            // The promise: out within 10 s whatever happens.
            setTimeout(() => {
                logger.error('shutdown took longer than 9.5 s; exiting');
                resolve(1);
            }, 9500).unref();
            daemon.stop().then(
                () => resolve(0),
                (err: unknown) => {
                    logger.error({ err }, 'error while stopping');
                    resolve(1);
                },
            );
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
    });
}

type ChangesArgs = Partial<Record<'after' | 'limit' | 'integration' | 'connection' | 'model', string>> & { follow?: boolean };

async function changes(configPath: string, args: ChangesArgs): Promise<number> {
    const whole = (name: string, value: string | undefined, fallback: number, min: number, max: number): number | undefined => {
        if (value === undefined) return fallback;
        const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
        if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
        console.error(`--${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}.`);
        return undefined;
    };
    const after = whole('after', args.after, 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = whole('limit', args.limit, 1000, 1, 10_000);
    if (after === undefined || limit === undefined) return 2;
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    // Into a pipe, wait for room before the next line: a follower behind a slow reader holds no backlog.
    const write = (line: string) => new Promise<void>((resolve) => (process.stdout.write(`${line}\n`) ? resolve() : process.stdout.once('drain', resolve)));
    const { changesCommand } = await import('./commands/changes.js');
    return changesCommand(loadDatabaseConfigFile(configPath), {
        after,
        limit,
        follow: args.follow ?? false,
        signal: stop.signal,
        ...(args.integration === undefined ? {} : { providerConfigKey: args.integration }),
        ...(args.connection === undefined ? {} : { connectionId: args.connection }),
        ...(args.model === undefined ? {} : { model: args.model }),
    }, write);
}

async function migrate(configPath: string): Promise<number> {
    // Only database.* is read: a migration job need not be given Nango's keys.
    const config = loadDatabaseConfigFile(configPath);
    const store = await openStore(config.database);
    try {
        await store.schema.migrate();
        console.log('Migrations applied.');
        return 0;
    } finally {
        await store.close();
    }
}

main(process.argv.slice(2)).then(
    (code) => exitWhenWritten(code),
    (err: unknown) => {
        if (isConfigError(err)) {
            console.error(err.message);
            return exitWhenWritten(2);
        }
        console.error(err instanceof Error ? err.message : err);
        return exitWhenWritten(1);
    },
);

/**
 * Exits once stdout and stderr have handed everything to the OS. Into a pipe, a write the pipe has
 * no room for is queued in the process, and process.exit() drops it: `status --json | jq` was cut
 * off at 64–128 KiB. An empty write's callback runs after every write queued before it.
 */
function exitWhenWritten(code: number): void {
    let waiting = 2;
    const done = () => {
        if (--waiting === 0) process.exit(code);
    };
    process.stdout.write('', done);
    process.stderr.write('', done);
}
