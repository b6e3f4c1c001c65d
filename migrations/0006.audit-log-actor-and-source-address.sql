-- depends: 0005.index-published-outbox-rows
-- Who did an audited action and from which network (the event's data
-- actor_id and source_address), as columns an audit query can filter on.
ALTER TABLE user_audit_log ADD COLUMN IF NOT EXISTS actor_id uuid;
ALTER TABLE user_audit_log ADD COLUMN IF NOT EXISTS source_address text;

CREATE INDEX IF NOT EXISTS user_audit_log_by_actor
    ON user_audit_log (actor_id, occurred_at) WHERE actor_id IS NOT NULL;
