-- depends: 0007.service-secrets
-- An admin's listing (ListUsers) pages by (created_at, id) with keyset
-- conditions; each of its filters has an index, so no page scans the table:
-- the order and the creation range; the role and the status, rare values of
-- which (admins, disabled users) an ordered scan would have to look far for;
-- the prefix of the canonical email, compared byte by byte (text_pattern_ops),
-- whatever the database's collation.
CREATE INDEX IF NOT EXISTS users_by_created ON users (created_at, id);
CREATE INDEX IF NOT EXISTS users_by_role_created ON users (role, created_at, id);
CREATE INDEX IF NOT EXISTS users_by_status_created ON users (status, created_at, id);
CREATE INDEX IF NOT EXISTS users_by_email_prefix ON users (email_canonical text_pattern_ops);
