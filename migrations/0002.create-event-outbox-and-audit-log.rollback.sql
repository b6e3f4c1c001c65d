DROP TABLE IF EXISTS user_audit_log;
DROP TABLE IF EXISTS event_outbox;
