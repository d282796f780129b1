CREATE TABLE "nango_mirror_leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp(6) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nango_mirror_views" (
	"name" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"definition" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nango_records" (
	"provider_config_key" text NOT NULL,
	"connection_id" text NOT NULL,
	"model" text NOT NULL,
	"variant" text DEFAULT 'base' NOT NULL,
	"id" text NOT NULL,
	"data" jsonb NOT NULL,
	"last_action" text NOT NULL,
	"deleted_at" timestamp(6) with time zone,
	"pruned_at" timestamp(6) with time zone,
	"first_seen_at" timestamp(6) with time zone NOT NULL,
	"last_modified_at" timestamp(6) with time zone NOT NULL,
	"cursor" text NOT NULL,
	"synced_at" timestamp(6) with time zone NOT NULL,
	CONSTRAINT "nango_records_provider_config_key_connection_id_model_variant_id_pk" PRIMARY KEY("provider_config_key","connection_id","model","variant","id")
);
--> statement-breakpoint
CREATE TABLE "nango_sync_state" (
	"provider_config_key" text NOT NULL,
	"connection_id" text NOT NULL,
	"model" text NOT NULL,
	"variant" text DEFAULT 'base' NOT NULL,
	"cursor" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"request_seq" bigint DEFAULT 0 NOT NULL,
	"done_seq" bigint DEFAULT 0 NOT NULL,
	"pull_requested_at" timestamp(6) with time zone,
	"pull_started_at" timestamp(6) with time zone,
	"last_success_at" timestamp(6) with time zone,
	"next_attempt_at" timestamp(6) with time zone,
	"last_error" text,
	"last_error_code" text,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"nango_sync_error" text,
	"nango_sync_error_at" timestamp(6) with time zone,
	"gone_at" timestamp(6) with time zone,
	"records_pulled_total" bigint DEFAULT 0 NOT NULL,
	"last_pull_records" integer DEFAULT 0 NOT NULL,
	"last_pull_pages" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "nango_sync_state_provider_config_key_connection_id_model_variant_pk" PRIMARY KEY("provider_config_key","connection_id","model","variant")
);
