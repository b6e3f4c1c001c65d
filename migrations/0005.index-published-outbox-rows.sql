-- depends: 0002.create-event-outbox-and-audit-log
-- The relay deletes published rows past their retention, oldest first: find
-- them without scanning the whole outbox.
CREATE INDEX IF NOT EXISTS event_outbox_published_at
    ON event_outbox (published_at) WHERE published_at IS NOT NULL;
