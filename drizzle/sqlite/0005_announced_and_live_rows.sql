ALTER TABLE `nango_sync_state` ADD `announced_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `live_rows_at_finish` integer;