ALTER TABLE "nango_sync_state" ADD COLUMN "resync_from" timestamp(6) with time zone;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "resync_sweep" boolean DEFAULT false NOT NULL;