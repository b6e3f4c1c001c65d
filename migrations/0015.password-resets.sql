-- depends: 0012.mail-outbox
-- Password reset tokens, one per user (a new request replaces the old one:
-- only the newest is valid). Only the SHA-256 digest of a token is kept. A
-- token is bound to the password it may replace by `password_fingerprint`
-- (the SHA-256 of the password hash at request time): once the password
-- changes by any path, the fingerprint no longer matches and the token is dead.
CREATE TABLE IF NOT EXISTS password_resets (
    user_id              uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_digest         bytea       NOT NULL UNIQUE,
    password_fingerprint bytea       NOT NULL,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL
);
