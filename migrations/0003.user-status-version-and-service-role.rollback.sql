-- Service callers become plain users: the old constraint knows no other role.
DROP INDEX IF EXISTS users_active_admins;
DROP TRIGGER IF EXISTS users_bump_version ON users;
DROP FUNCTION IF EXISTS users_bump_version();
UPDATE users SET role = 'user' WHERE role = 'service';
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'user'));
ALTER TABLE users
    DROP COLUMN IF EXISTS sessions_epoch,
    DROP COLUMN IF EXISTS version,
    DROP COLUMN IF EXISTS status;
