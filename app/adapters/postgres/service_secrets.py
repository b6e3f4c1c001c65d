"""Secrets the service makes for itself, kept in PostgreSQL (``service_secrets``)."""

from __future__ import annotations

import secrets

from app.adapters.postgres.bounded_pool import BoundedPool

SECRET_BYTES = 32

# Inserts the candidate unless the name exists; either way returns the stored
# secret, so instances starting at once all read the one that won.
_STORED_OR_NEW = """
INSERT INTO service_secrets (name, secret) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING secret
"""


async def stored_secret(pool: BoundedPool, name: str) -> bytes:
    """The random secret ``name``, made and stored on first use; the same for every instance."""
    stored: bytes = await pool.fetchval(_STORED_OR_NEW, name, secrets.token_bytes(SECRET_BYTES))
    return stored
