CREATE TABLE "nango_mirror_notify_positions" (
	"subscriber" text PRIMARY KEY NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp(6) with time zone NOT NULL
);
