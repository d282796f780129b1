CREATE TABLE "nango_changes" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "nango_changes_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider_config_key" text NOT NULL,
	"connection_id" text NOT NULL,
	"model" text NOT NULL,
	"variant" text NOT NULL,
	"record_id" text NOT NULL,
	"action" text NOT NULL,
	"last_modified_at" timestamp(6) with time zone,
	"committed_at" timestamp(6) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nango_mirror_change_log" (
	"id" integer PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"pruned_through" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "nango_changes_key_seq" ON "nango_changes" USING btree ("provider_config_key","connection_id","model","seq");