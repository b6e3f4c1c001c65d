-- depends: 0007.service-secrets
-- A user's second factor (TOTP): the secret sealed with AES-GCM under the key
-- key_id names (never in clear), whether it is confirmed, and the last time
-- step a code was accepted for (each step once: no replay).
CREATE TABLE IF NOT EXISTS user_mfa (
    user_id           uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id            text        NOT NULL,
    secret_ciphertext bytea       NOT NULL,
    active            boolean     NOT NULL DEFAULT false,
    last_step         bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    confirmed_at      timestamptz
);

-- Recovery codes, as HMAC-SHA256 digests only; each works once.
CREATE TABLE IF NOT EXISTS user_recovery_codes (
    user_id uuid        NOT NULL REFERENCES user_mfa (user_id) ON DELETE CASCADE,
    digest  bytea       NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, digest)
);
