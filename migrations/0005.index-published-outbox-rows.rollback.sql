DROP INDEX IF EXISTS event_outbox_published_at;
