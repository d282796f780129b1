// The count-drift gauge's SQL, the same text on both engines (it uses nothing either lacks), so the
// two cannot disagree on which keys drift.

/**
 * `live_rows_at_finish` as a pull's FINISH statement sets it: the key's live rows, for a base variant
 * Nango has reported a count for; NULL otherwise (a variant is compared with nothing: Nango reports the
 * base variant's count for it). `key` are the placeholders of the key's four columns, so the count is
 * a range scan over the primary-key prefix of this one key.
 *
 * Live means `deleted_at IS NULL`, pruned rows included: Nango's `recordCount` counts every record
 * that is not soft-deleted (pruning leaves its counter alone; protocol §6.1), and the mirror stores a
 * pruned record as Nango returns it, `pruned_at` set and `deleted_at` null (toRecordRows.ts). A
 * deleted record has `deleted_at` set whatever `sync.deletes` is (hard deletes remove the row).
 */
export const liveRowsAtFinish = (key: readonly [string, string, string, string]) => `CASE WHEN variant = 'base' AND nango_record_count IS NOT NULL THEN (
        SELECT count(*) FROM nango_records r
        WHERE r.provider_config_key = ${key[0]} AND r.connection_id = ${key[1]} AND r.model = ${key[2]} AND r.variant = ${key[3]} AND r.deleted_at IS NULL
    ) END`;

/**
 * A `nango_sync_state` row that drifts (KeySummary.countDriftKeys): the live rows its last pull left
 * disagree with Nango's `recordCount`, when both describe the same data:
 * - a base variant with both counts (live_rows_at_finish is only counted for those);
 * - shown `ok` (domain/keyState.ts: status ok and not `isPending`): no pull running, failed or owed;
 * - its last successful pull (last_success_at >= pull_started_at: the last pull that started is the
 *   one that finished) started at or after Nango's latest run finished: it read what that run left;
 * - Nango's status was stored after that pull finished (`nango_status_at`; a pass stores it for every
 *   key pulled since the last time, changed or not). Without it, a count read before a Nango run would
 *   be compared with a pull a webhook started after that run, and every run that added or deleted
 *   records would show as drift until the next pass;
 * - no failed-sync webhook since that pull (Nango ran again and may have written part of a run).
 *
 * Only `nango_sync_state` is read: the live rows were counted when the pull finished.
 */
export const COUNT_DRIFT = `(variant = 'base' AND status = 'ok' AND request_seq <= done_seq
    AND live_rows_at_finish IS NOT NULL AND nango_record_count IS NOT NULL AND nango_finished_at IS NOT NULL
    AND last_success_at >= pull_started_at AND pull_started_at >= nango_finished_at
    AND nango_status_at > last_success_at
    AND (nango_sync_error_at IS NULL OR nango_sync_error_at < last_success_at)
    AND live_rows_at_finish <> nango_record_count)`;
