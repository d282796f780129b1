ALTER TABLE `nango_mirror_views` ADD `provider_config_key` text;--> statement-breakpoint
ALTER TABLE `nango_mirror_views` ADD `model` text;--> statement-breakpoint
ALTER TABLE `nango_mirror_views` ADD `schema_version` text;--> statement-breakpoint
ALTER TABLE `nango_mirror_views` ADD `sync_name` text;--> statement-breakpoint
ALTER TABLE `nango_mirror_views` ADD `sync_version` text;--> statement-breakpoint
ALTER TABLE `nango_mirror_views` ADD `spec` text;