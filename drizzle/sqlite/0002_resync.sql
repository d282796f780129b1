ALTER TABLE `nango_sync_state` ADD `resync_from` text;--> statement-breakpoint
ALTER TABLE `nango_sync_state` ADD `resync_sweep` integer DEFAULT false NOT NULL;