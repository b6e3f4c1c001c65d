-- depends: 0012.mail-outbox
-- Email verification and change of address. Users stored before this
-- migration (registered or imported) start unverified: nothing proved that
-- their address is theirs. A verification is stored by the digest of its
-- token only; `email_canonical` is the address it verifies (the current one,
-- or the new one of a change), so a token for an old address verifies nothing
-- once the address changed.
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS email_verifications (
    token_digest    text        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           text        NOT NULL,
    email_canonical text        NOT NULL,
    is_change       boolean     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);

CREATE INDEX IF NOT EXISTS email_verifications_user_idx ON email_verifications (user_id);
