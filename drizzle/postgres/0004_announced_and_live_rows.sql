ALTER TABLE "nango_sync_state" ADD COLUMN "announced_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "nango_status_at" timestamp(6) with time zone;--> statement-breakpoint
ALTER TABLE "nango_sync_state" ADD COLUMN "live_rows_at_finish" bigint;--> statement-breakpoint
CREATE INDEX "nango_sync_state_announced_due" ON "nango_sync_state" USING btree ("pull_requested_at" NULLS FIRST) WHERE announced_seq > done_seq AND status <> 'gone';