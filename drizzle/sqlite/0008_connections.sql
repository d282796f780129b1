CREATE TABLE `nango_connections` (
	`provider_config_key` text NOT NULL,
	`connection_id` text NOT NULL,
	`provider` text,
	`tags` text,
	`end_user_id` text,
	`organization_id` text,
	`created_at` text,
	`first_seen_at` text NOT NULL,
	`last_seen_at` text NOT NULL,
	`deleted_at` text,
	PRIMARY KEY(`provider_config_key`, `connection_id`)
);
