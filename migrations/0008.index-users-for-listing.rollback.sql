DROP INDEX IF EXISTS users_by_email_prefix;
DROP INDEX IF EXISTS users_by_status_created;
DROP INDEX IF EXISTS users_by_role_created;
DROP INDEX IF EXISTS users_by_created;
