CREATE TABLE `nango_mirror_notify_positions` (
	`subscriber` text PRIMARY KEY NOT NULL,
	`seq` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL
);
