ALTER TABLE "nango_mirror_views" ADD COLUMN "provider_config_key" text;--> statement-breakpoint
ALTER TABLE "nango_mirror_views" ADD COLUMN "model" text;--> statement-breakpoint
ALTER TABLE "nango_mirror_views" ADD COLUMN "schema_version" text;--> statement-breakpoint
ALTER TABLE "nango_mirror_views" ADD COLUMN "sync_name" text;--> statement-breakpoint
ALTER TABLE "nango_mirror_views" ADD COLUMN "sync_version" text;--> statement-breakpoint
ALTER TABLE "nango_mirror_views" ADD COLUMN "spec" text;