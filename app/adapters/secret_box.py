"""AesGcmKeyring: TOTP secrets sealed with AES-256-GCM under rotating keys (``cryptography``).

Each sealed secret is a fresh 96-bit random nonce followed by the ciphertext
and its tag; the key's id is stored beside it, and the user's id is the
associated data, so a row's secret cannot be moved to another user. Random
nonces are safe here: a key seals one secret per enrolment, far below the
2^32 messages after which random 96-bit nonces risk a repeat.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.domain.errors import StoreFault
from app.domain.second_factor import FactorKeysMissing
from app.domain.second_factor_ports import SealedSecret

NONCE_BYTES = 12


class AesGcmKeyring:
    """Satisfies ``SecretCipher`` over ``keys`` (id to 32 bytes), sealing under ``current``."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current if keys else None

    @property
    def available(self) -> bool:
        return self._current is not None

    def seal(self, secret: str, associated: bytes) -> SealedSecret:
        if self._current is None:
            raise FactorKeysMissing()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, secret.encode(), associated)
        return SealedSecret(self._current, nonce + sealed)

    def open(self, sealed: SealedSecret, associated: bytes) -> str:
        cipher = self._keys.get(sealed.key_id)
        if cipher is None:
            raise FactorKeysMissing(f"the MFA key {sealed.key_id!r} is not configured")
        nonce, body = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, body, associated).decode()
        except InvalidTag as err:
            # A key of the right id but other bytes, or a row altered or moved.
            raise StoreFault(reason="a sealed TOTP secret did not open") from err

    def is_current(self, key_id: str) -> bool:
        return key_id == self._current
