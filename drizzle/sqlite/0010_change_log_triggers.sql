-- The change log's triggers (drizzle-kit does not model triggers). New rows are logged by the page
-- writer itself (pageWriter.ts), in one statement per page: an AFTER INSERT trigger fires a
-- sub-program per row, which cost ~35 % of SQLite's raw ingest (measured); updates and deletes
-- are classified here, from OLD and NEW. The UPDATE trigger fires only when the row really changed:
-- a re-read of the same version (which still bumps synced_at, for the resync sweep) logs nothing.
-- committed_at is the database's clock (milliseconds, padded like every time SQLite makes).
-- `action_override` is set to 'swept' inside the sweep's and the purge's transactions only.
INSERT INTO `nango_mirror_change_log` (`id`, `enabled`, `action_override`, `pruned_through`) VALUES (1, 1, NULL, 0);
--> statement-breakpoint
CREATE TRIGGER `nango_changes_on_update` AFTER UPDATE ON `nango_records`
WHEN (OLD.last_modified_at IS NOT NEW.last_modified_at OR OLD.deleted_at IS NOT NEW.deleted_at
      OR OLD.pruned_at IS NOT NEW.pruned_at OR OLD.data IS NOT NEW.data)
  AND (SELECT enabled FROM nango_mirror_change_log WHERE id = 1)
BEGIN
    INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
    SELECT NEW.provider_config_key, NEW.connection_id, NEW.model, NEW.variant, NEW.id,
        coalesce(c.action_override, CASE
            WHEN NEW.deleted_at IS NOT NULL THEN 'deleted'
            WHEN OLD.deleted_at IS NOT NULL THEN 'undeleted'
            ELSE 'updated' END),
        NEW.last_modified_at, strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'
    FROM nango_mirror_change_log c WHERE c.id = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `nango_changes_on_delete` AFTER DELETE ON `nango_records`
WHEN (SELECT enabled FROM nango_mirror_change_log WHERE id = 1)
BEGIN
    INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
    SELECT OLD.provider_config_key, OLD.connection_id, OLD.model, OLD.variant, OLD.id,
        coalesce(c.action_override, 'deleted'), OLD.last_modified_at,
        strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'
    FROM nango_mirror_change_log c WHERE c.id = 1;
END;
