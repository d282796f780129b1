/**
 * A pull's own bookkeeping (claimed, finished, failed) commits with synchronous_commit off, as
 * SQLite's skips its fsync: a server crash can lose it, which costs a repeated pull and never a lost
 * one, since WAL keeps commits in order and the next durable commit (a pull request, a page)
 * flushes every one before it. The pull's connection is switched when its lock is taken, each page
 * transaction switches back, and the connection gets the server's own setting (what RESET would
 * restore) before it returns to the pool.
 */

/** SQL that switches the session's synchronous_commit off (the caller runs it only once the lock is held). */
export const SKIP_COMMIT_FLUSH = `set_config('synchronous_commit', 'off', false)`;

/** SQL that restores the server's synchronous_commit: for this transaction (`local`) or the session. */
export function restoreCommitFlush(local: boolean): string {
    return `set_config('synchronous_commit', (SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit'), ${local})`;
}
