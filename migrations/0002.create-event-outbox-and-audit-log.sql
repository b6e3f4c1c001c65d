-- depends: 0001.create-users
-- The outbox: events written in the transaction of the change they report,
-- published to the stream by the relay (in id order per user), then marked.
CREATE TABLE IF NOT EXISTS event_outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    event_type   text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    user_id      uuid,
    data         jsonb       NOT NULL DEFAULT '{}',
    traceparent  text,
    published_at timestamptz
);

-- The relay reads only unpublished rows: keep those indexes small.
CREATE INDEX IF NOT EXISTS event_outbox_unpublished
    ON event_outbox (id) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS event_outbox_unpublished_by_user
    ON event_outbox (user_id, id) WHERE published_at IS NULL;

-- The audit log projected from the events stream: one row per event, however
-- often the event is delivered (the primary key makes inserts idempotent).
CREATE TABLE IF NOT EXISTS user_audit_log (
    event_id    uuid        PRIMARY KEY,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id     uuid,
    data        jsonb       NOT NULL DEFAULT '{}',
    traceparent text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS user_audit_log_by_user ON user_audit_log (user_id, occurred_at);
