ALTER TABLE "nango_sync_state" ADD COLUMN "announced_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "live_rows_at_finish" bigint;