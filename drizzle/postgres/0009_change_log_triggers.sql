-- The change log's triggers (drizzle-kit does not model them): statement-level, with transition
-- tables, so a page (one INSERT … ON CONFLICT DO UPDATE statement) logs its changes with one
-- set-based INSERT per event. INSERT … ON CONFLICT DO UPDATE fills the INSERT trigger's table with
-- the rows it inserted and the UPDATE trigger's tables with the rows it updated. An update is
-- logged only if the row really changed: a re-read of the same version logs nothing.
-- Why triggers rather than a CTE in the page writer: capturing the transition tables measured ~1 %
-- of a page's time; the log's cost is the rows it inserts, which a CTE would insert all the same,
-- and triggers cover the sweep and the purge with no second copy of the rules.
--
-- Commit order: the function takes a transaction-level advisory lock (one per schema) just before
-- it draws sequence numbers, and holds it until the transaction ends, so no transaction draws a
-- later number and commits before an earlier one: a reader that has seen seq N never later sees a
-- smaller one appear. Statements that change nothing do not take it.
--
-- `nango_mirror.change_action` (transaction-local, set by the sweep and the purge) overrides the
-- action ('swept'). `SET search_path FROM CURRENT`: the function finds the mirror's tables
-- whatever the writing session's search_path.
INSERT INTO "nango_mirror_change_log" ("id", "enabled", "pruned_through") VALUES (1, true, 0);
--> statement-breakpoint
CREATE FUNCTION nango_mirror_log_changes() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    override text := nullif(current_setting('nango_mirror.change_action', true), '');
    at timestamptz;
BEGIN
    IF NOT coalesce((SELECT enabled FROM nango_mirror_change_log WHERE id = 1), true) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('nango-mirror-changes:' || TG_TABLE_SCHEMA, 0));
        at := clock_timestamp();
        INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
        SELECT n.provider_config_key, n.connection_id, n.model, n.variant, n.id,
            coalesce(override, CASE WHEN n.deleted_at IS NULL THEN 'added' ELSE 'deleted' END), n.last_modified_at, at
        FROM new_rows n;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (
            SELECT 1 FROM new_rows n JOIN old_rows o USING (provider_config_key, connection_id, model, variant, id)
            WHERE o.last_modified_at IS DISTINCT FROM n.last_modified_at OR o.deleted_at IS DISTINCT FROM n.deleted_at
               OR o.pruned_at IS DISTINCT FROM n.pruned_at OR o.data IS DISTINCT FROM n.data
        ) THEN RETURN NULL; END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('nango-mirror-changes:' || TG_TABLE_SCHEMA, 0));
        at := clock_timestamp();
        INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
        SELECT n.provider_config_key, n.connection_id, n.model, n.variant, n.id,
            coalesce(override, CASE
                WHEN n.deleted_at IS NOT NULL THEN 'deleted'
                WHEN o.deleted_at IS NOT NULL THEN 'undeleted'
                ELSE 'updated' END),
            n.last_modified_at, at
        FROM new_rows n JOIN old_rows o USING (provider_config_key, connection_id, model, variant, id)
        WHERE o.last_modified_at IS DISTINCT FROM n.last_modified_at OR o.deleted_at IS DISTINCT FROM n.deleted_at
           OR o.pruned_at IS DISTINCT FROM n.pruned_at OR o.data IS DISTINCT FROM n.data;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('nango-mirror-changes:' || TG_TABLE_SCHEMA, 0));
        at := clock_timestamp();
        INSERT INTO nango_changes (provider_config_key, connection_id, model, variant, record_id, action, last_modified_at, committed_at)
        SELECT o.provider_config_key, o.connection_id, o.model, o.variant, o.id, coalesce(override, 'deleted'), o.last_modified_at, at
        FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER nango_changes_on_insert AFTER INSERT ON nango_records REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION nango_mirror_log_changes();
--> statement-breakpoint
CREATE TRIGGER nango_changes_on_update AFTER UPDATE ON nango_records REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION nango_mirror_log_changes();
--> statement-breakpoint
CREATE TRIGGER nango_changes_on_delete AFTER DELETE ON nango_records REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION nango_mirror_log_changes();
