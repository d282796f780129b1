CREATE TABLE `nango_mirror_leases` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `nango_mirror_views` (
	`name` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`definition` text NOT NULL
);
