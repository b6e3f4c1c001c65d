-- depends: 0002.create-event-outbox-and-audit-log
-- Account state for authorization from the source of truth:
--   status          a disabled user cannot log in and has no live session;
--   version         bumped by every UPDATE of the row (the trigger below), so a
--                   cached copy can tell an older copy from a newer one, and a
--                   change made directly in SQL bumps it too;
--   sessions_epoch  bumped when every session must end (password change,
--                   disable, an admin's revocation): a session created under an
--                   older epoch is refused.
-- Role 'service': a service-to-service caller that may read any user.
ALTER TABLE users
    ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'disabled')),
    ADD COLUMN IF NOT EXISTS version bigint NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS sessions_epoch bigint NOT NULL DEFAULT 0;

ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'user', 'service'));

CREATE OR REPLACE FUNCTION users_bump_version() RETURNS trigger AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS users_bump_version ON users;
CREATE TRIGGER users_bump_version BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_bump_version();

-- The last-admin rule locks the active admins: keep finding them cheap.
CREATE INDEX IF NOT EXISTS users_active_admins ON users (id)
    WHERE role = 'admin' AND status = 'active';
