"""SignedDeviceTokens: device tokens signed with itsdangerous.

A token is ``URLSafeTimedSerializer`` over ``[account digest, random id]``:
the signature and the timestamp are itsdangerous's (HMAC-SHA1 under a key
derived, by itsdangerous, from ours and a salt of our own), the lifetime is
checked at ``loads``. The payload carries no email, only the keyed hash that
names the account in Redis. The token is not stored: its failures are
counted in Redis under its id.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadData, URLSafeTimedSerializer

from app.adapters.login_secrets import LoginSecrets
from app.domain.device_tokens import DEVICE_TOKEN_MAX_LENGTH, DeviceToken


class SignedDeviceTokens:
    """Satisfies ``DeviceTokens``."""

    def __init__(self, login_secrets: LoginSecrets, *, lifetime_seconds: float) -> None:
        self._secrets = login_secrets
        self._lifetime_seconds = lifetime_seconds
        self._serializer = URLSafeTimedSerializer(
            login_secrets.device_token_key, salt="user-service device token"
        )

    def issue(self, account: str) -> str:
        digest = self._secrets.account_digest(account)
        token: str = self._serializer.dumps([digest, secrets.token_urlsafe(16)])
        return token

    def verify(self, token: str, account: str) -> DeviceToken | None:
        if not token or len(token) > DEVICE_TOKEN_MAX_LENGTH:
            return None
        try:
            payload = self._serializer.loads(token, max_age=round(self._lifetime_seconds))
        except BadData:
            return None
        match payload:
            case [str(digest), str(token_id)] if hmac.compare_digest(
                digest, self._secrets.account_digest(account)
            ):
                return DeviceToken(id=token_id)
        return None
