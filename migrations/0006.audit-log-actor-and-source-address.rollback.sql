DROP INDEX IF EXISTS user_audit_log_by_actor;
ALTER TABLE user_audit_log DROP COLUMN IF EXISTS source_address;
ALTER TABLE user_audit_log DROP COLUMN IF EXISTS actor_id;
