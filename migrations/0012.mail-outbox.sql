-- depends: 0007.service-secrets
-- The message outbox: mail written in the transaction of the change that
-- causes it, sent later by the courier. The body is rendered when sending and
-- never stored; `token` (the secret a link carries) is erased once the message
-- is sent or abandoned.
CREATE TABLE IF NOT EXISTS mail_outbox (
    id              bigserial   PRIMARY KEY,
    message_id      uuid        NOT NULL UNIQUE,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    template_values jsonb       NOT NULL DEFAULT '{}',
    token           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    abandoned_at    timestamptz,
    CHECK (token IS NULL OR (sent_at IS NULL AND abandoned_at IS NULL))
);

-- The courier reads only waiting messages, the next due first: keep that index small.
CREATE INDEX IF NOT EXISTS mail_outbox_waiting
    ON mail_outbox (next_attempt_at, id) WHERE sent_at IS NULL AND abandoned_at IS NULL;
