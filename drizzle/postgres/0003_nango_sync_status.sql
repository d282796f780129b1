ALTER TABLE "nango_sync_state" ADD COLUMN "nango_sync_status" text;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "nango_finished_at" timestamp(6) with time zone;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "nango_record_count" bigint;