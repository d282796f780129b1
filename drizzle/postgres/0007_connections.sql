CREATE TABLE "nango_connections" (
	"provider_config_key" text NOT NULL,
	"connection_id" text NOT NULL,
	"provider" text,
	"tags" jsonb,
	"end_user_id" text,
	"organization_id" text,
	"created_at" timestamp(6) with time zone,
	"first_seen_at" timestamp(6) with time zone NOT NULL,
	"last_seen_at" timestamp(6) with time zone NOT NULL,
	"deleted_at" timestamp(6) with time zone,
	CONSTRAINT "nango_connections_provider_config_key_connection_id_pk" PRIMARY KEY("provider_config_key","connection_id")
);
