-- depends: 0006.audit-log-actor-and-source-address
-- Random secrets the service makes for itself on first use (the login
-- throttle's root key): every instance on this database reads the same one.
CREATE TABLE IF NOT EXISTS service_secrets (
    name text PRIMARY KEY,
    secret bytea NOT NULL CHECK (octet_length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
