ALTER TABLE `nango_sync_state` ADD `nango_sync_status` text;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `nango_finished_at` text;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `nango_record_count` integer;