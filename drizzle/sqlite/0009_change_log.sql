CREATE TABLE `nango_changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`provider_config_key` text NOT NULL,
	`connection_id` text NOT NULL,
	`model` text NOT NULL,
	`variant` text NOT NULL,
	`record_id` text NOT NULL,
	`action` text NOT NULL,
	`last_modified_at` text,
	`committed_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `nango_changes_key_seq` ON `nango_changes` (`provider_config_key`,`connection_id`,`model`,`seq`);--> statement-breakpoint
CREATE TABLE `nango_mirror_change_log` (
	`id` integer PRIMARY KEY NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`action_override` text,
	`pruned_through` integer DEFAULT 0 NOT NULL
);
