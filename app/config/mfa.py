"""The second factor's settings: the issuer apps show, the keys secrets are sealed under,
the login ticket's lifetime, and the roles that must have a factor."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from app.config.sections import Section

KEY_BYTES = 32  # AES-256
RoleName = Literal["admin", "user", "service"]
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def decoded_key(value: SecretStr) -> bytes:
    """The 32 bytes a key's standard base64 stands for; the message never repeats the key."""
    try:
        key = base64.b64decode(value.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("each key must be standard base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"each key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


class MfaSettings(Section):
    """TOTP. ``encryption_keys`` is a JSON object of key id to base64 key
    (``{"k2": "…", "k1": "…"}``); ``encryption_key_id`` names the one new
    secrets are sealed under (may be left out when there is one key). Older
    keys stay to open what they sealed until each secret is used and re-sealed."""

    issuer: str = Field("user-service", min_length=1, max_length=64)
    encryption_keys: dict[str, SecretStr] = Field(default_factory=dict, max_length=16)
    encryption_key_id: str | None = None
    # A login ticket (password right, code awaited) dies this long after it is made.
    ticket_lifetime_seconds: float = Field(300.0, ge=10, le=1800)
    # Roles whose admin calls are refused until the user has an active factor; [] is off.
    required_roles: list[RoleName] = Field(default_factory=lambda: list[RoleName](["admin"]))

    @model_validator(mode="after")
    def _keys_are_usable(self) -> MfaSettings:
        for key_id, value in self.encryption_keys.items():
            if not _KEY_ID.match(key_id):
                raise ValueError("key ids are 1 to 32 letters, digits, '-' or '_'")
            decoded_key(value)
        if self.encryption_keys and self.current_key_id() not in self.encryption_keys:
            raise ValueError("encryption_key_id must name one of encryption_keys")
        return self

    def current_key_id(self) -> str | None:
        """The key new secrets are sealed under: the named one, else the only one."""
        if self.encryption_key_id is not None:
            return self.encryption_key_id
        if len(self.encryption_keys) == 1:
            return next(iter(self.encryption_keys))
        return None
