"""LoginSecrets: the keys derived from the login throttle's root secret, one per use.

Throttle and known-address keys in Redis name an account by a keyed hash
(HMAC-SHA256) of its canonical email, never the email: someone reading Redis
learns no address, registered or not, and cannot test a guessed email without
the key. Device tokens are signed under a second key derived from the same
secret, and page tokens (an admin's listing) under a third, so no use can
stand in for another. Derivation is one
HMAC-SHA256 of the root over a fixed label (the "expand" step of HKDF with a
root that is already uniformly random): the stdlib does it in one line.

The root is ``APP_THROTTLING__SECRET_KEY`` hashed to 32 bytes when it is set,
else a random secret the service stores in PostgreSQL on first use
(:func:`login_root`), so every instance on one database agrees without
configuration.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.service_secrets import stored_secret

STORED_SECRET_NAME = "login-throttle"  # noqa: S105 (the row's name, not the secret)


async def login_root(configured: SecretStr | None, pool: BoundedPool) -> bytes:
    """The root of the login keys: the configured secret, else the stored one."""
    if configured is not None:
        return hashlib.sha256(configured.get_secret_value().encode()).digest()
    return await stored_secret(pool, STORED_SECRET_NAME)


class LoginSecrets:
    """The per-use keys derived from one root secret (see :func:`login_root`)."""

    def __init__(self, root: bytes) -> None:
        self._account_key = self._derive(root, b"login-throttle account keys")
        self.device_token_key = self._derive(root, b"device tokens")
        self.page_token_key = self._derive(root, b"page tokens")

    @staticmethod
    def _derive(root: bytes, label: bytes) -> bytes:
        return hmac.new(root, label, hashlib.sha256).digest()

    def account_digest(self, account: str) -> str:
        """What names ``account`` (a canonical email) in Redis keys and device tokens."""
        return hmac.new(self._account_key, account.encode(), hashlib.sha256).hexdigest()
