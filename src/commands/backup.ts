import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { DatabaseConfig } from '../config/schema.js';
import { sqlitePathOf } from '../storage/openStore.js';

export interface BackupOptions {
    file: string;
    /** Replace `file` if it exists; without it an existing file is refused. */
    force: boolean;
}

/** Exit code when the database is Postgres: not a failure of the copy, a command that does not apply. */
export const BACKUP_NOT_SQLITE = 2;

/**
 * `nango-mirror backup <file>`: a consistent copy of a SQLite mirror, safe while the daemon writes.
 * `VACUUM INTO` reads the whole database inside one read transaction — in WAL mode a snapshot
 * that the daemon's commits do not disturb and do not wait for — so the copy is the mirror as of
 * one commit. (The online backup API restarts whenever another connection writes, so under a busy
 * daemon it may never finish.) The copy is written beside the target and moved into place only when
 * complete and on disk: a failed or interrupted backup leaves no half-written file under that name.
 */
export function backupCommand(config: DatabaseConfig, options: BackupOptions, out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
    const source = sqlitePathOf(config.database.url);
    if (source === undefined) {
        err(
            'backup copies a SQLite mirror; this config\'s database.url is Postgres. Use pg_dump, for example:\n' +
                `  pg_dump --format=custom --schema=${config.database.schema} --file=mirror.dump "<database.url>"\n` +
                `and restore with pg_restore --dbname="<url>" mirror.dump.`,
        );
        return BACKUP_NOT_SQLITE;
    }
    if (!existsSync(source)) {
        err(`No SQLite mirror at ${source} (database.url). Nothing to back up.`);
        return 1;
    }
    const target = resolve(options.file);
    if (target === resolve(source)) {
        err(`${options.file} is the mirror itself; choose another file.`);
        return 2;
    }
    if (!options.force && existsSync(target)) {
        err(`${options.file} exists; pass --force to replace it.`);
        return 2;
    }
    const partial = `${target}.partial-${process.pid}`;
    rmSync(partial, { force: true });
    try {
        const db = new Database(source, { fileMustExist: true });
        try {
            // The daemon's checkpoints and migrations may hold the file briefly.
            db.pragma('busy_timeout = 10000');
            db.prepare('VACUUM INTO ?').run(partial);
        } finally {
            db.close();
        }
        const fd = openSync(partial, 'r+');
        try {
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
        if (options.force) {
            renameSync(partial, target);
        } else {
            // link() fails if the name was taken meanwhile, where rename() would replace it.
            try {
                linkSync(partial, target);
            } catch (e) {
                if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
                    err(`${options.file} exists; pass --force to replace it.`);
                    return 2;
                }
                throw e;
            }
        }
    } finally {
        rmSync(partial, { force: true });
    }
    out(`Backed up ${source} to ${target}.`);
    return 0;
}
