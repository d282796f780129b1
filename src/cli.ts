#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isConfigError, loadConfigFile, resolveConfigPath } from './config/load.js';
import { createLogger } from './lib/logger.js';
import { startDaemon } from './main.js';
import { openStore } from './storage/openStore.js';

const USAGE = `Usage: nango-mirror <command> [--config <file>]

Commands:
  serve     run the daemon (what \`npm start\` runs)
  migrate   apply database migrations and exit

The config file is --config, else $NANGO_MIRROR_CONFIG, else ./config.json.`;

async function main(argv: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
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
        default:
            console.error(`Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
            return 2;
    }
}

async function serve(configPath: string): Promise<number> {
    const config = loadConfigFile(configPath);
    const logger = createLogger(config.logLevel);
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

async function migrate(configPath: string): Promise<number> {
    const config = loadConfigFile(configPath);
    const store = openStore(config.database);
    try {
        await store.migrate();
        console.log('Migrations applied.');
        return 0;
    } finally {
        await store.close();
    }
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
        if (isConfigError(err)) {
            console.error(err.message);
            process.exit(2);
        }
        console.error(err instanceof Error ? err.message : err);
        process.exit(1);
    },
);
