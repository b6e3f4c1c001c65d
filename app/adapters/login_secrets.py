"""LoginSecrets: the keys derived from ``APP_THROTTLING__SECRET_KEY``, one per use.

Throttle and known-address keys in Redis name an account by a keyed hash
(HMAC-SHA256) of its canonical email, never the email: someone reading Redis
learns no address, registered or not, and cannot test a guessed email without
the key. Device tokens are signed under a second key derived from the same
secret, so neither use can stand in for the other. Derivation is one
HMAC-SHA256 of the secret over a fixed label (the "expand" step of HKDF with a
secret that is already uniformly random, or hashed to 32 bytes if it is not):
the stdlib does it in one line.

Without a configured secret a random key is made once per process; the
service warns once at start-up what that costs (:func:`warn_if_random`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import structlog
from pydantic import SecretStr

logger = structlog.get_logger(__name__)

_process_key: bytes | None = None


def _random_process_key() -> bytes:
    global _process_key
    if _process_key is None:
        _process_key = secrets.token_bytes(32)
    return _process_key


_warned = False


def warn_if_random(secret: SecretStr | None) -> None:
    """Warn, once per process, that no secret is configured and what that costs."""
    global _warned
    if secret is None and not _warned:
        _warned = True
        logger.warning(
            "APP_THROTTLING__SECRET_KEY is not set: using a random key for this process;"
            " instances no longer count login failures together, device tokens do not"
            " survive a restart, and `admin clear-throttle --email` cannot find the keys"
        )


class LoginSecrets:
    """The per-use keys derived from one secret (or from a random per-process key)."""

    def __init__(self, secret: SecretStr | None) -> None:
        if secret is None:
            root = _random_process_key()
        else:
            root = hashlib.sha256(secret.get_secret_value().encode()).digest()
        self.configured = secret is not None
        self._account_key = self._derive(root, b"login-throttle account keys")
        self.device_token_key = self._derive(root, b"device tokens")

    @staticmethod
    def _derive(root: bytes, label: bytes) -> bytes:
        return hmac.new(root, label, hashlib.sha256).digest()

    def account_digest(self, account: str) -> str:
        """What names ``account`` (a canonical email) in Redis keys and device tokens."""
        return hmac.new(self._account_key, account.encode(), hashlib.sha256).hexdigest()
