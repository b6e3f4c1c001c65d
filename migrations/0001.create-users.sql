-- Users: one row per registered user. Email is unique whatever its case.
CREATE TABLE IF NOT EXISTS users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text        NOT NULL CHECK (char_length(email) <= 254),
    first_name    text        NOT NULL CHECK (char_length(first_name) BETWEEN 1 AND 64),
    last_name     text        NOT NULL CHECK (char_length(last_name) BETWEEN 1 AND 64),
    password_hash text        NOT NULL,
    role          text        NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    avatar        text        CHECK (char_length(avatar) <= 250),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));
