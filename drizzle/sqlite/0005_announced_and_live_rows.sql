ALTER TABLE `nango_sync_state` ADD `announced_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `nango_status_at` text;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `live_rows_at_finish` integer;--> statement-breakpoint
CREATE INDEX `nango_sync_state_announced_due` ON `nango_sync_state` (`pull_requested_at`) WHERE announced_seq > done_seq AND status <> 'gone';