"""Email uniqueness on a canonical form (NFKC, case-folded) instead of ``lower(email)``.

A Python migration because PostgreSQL has no full Unicode case folding: the
canonical form of each existing row is computed here exactly as the service
computes it for new rows and lookups (``app.domain.users.canonical_email``).
The function is copied, not imported, so this migration never changes with
the code; ``tests/integration/test_migrations.py`` checks that the two agree.
"""

import unicodedata

from yoyo import step

__depends__ = {"0002.create-event-outbox-and-audit-log"}


def canonical_email(email):
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded)


def fill_canonical_emails(connection):
    cursor = connection.cursor()
    cursor.execute("SELECT id, email FROM users WHERE email_canonical IS NULL")
    rows = cursor.fetchall()
    cursor.executemany(
        "UPDATE users SET email_canonical = %s WHERE id = %s",
        [(canonical_email(email), user_id) for user_id, email in rows],
    )


steps = [
    step(
        "ALTER TABLE users ADD COLUMN email_canonical text",
        "ALTER TABLE users DROP COLUMN email_canonical",
    ),
    step(fill_canonical_emails),
    step("ALTER TABLE users ALTER COLUMN email_canonical SET NOT NULL"),
    # Fails, naming the clashing form, if two existing users share one: resolve those first.
    step(
        "CREATE UNIQUE INDEX users_email_canonical_key ON users (email_canonical)",
        "DROP INDEX users_email_canonical_key",
    ),
    step(
        "DROP INDEX users_email_lower_key",
        "CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))",
    ),
]
