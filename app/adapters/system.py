"""The operating system's clock and randomness, behind the domain's ``Clock`` and ``IdSource``."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Identifiers from the OS's CSPRNG."""

    def uuid(self) -> uuid.UUID:
        return uuid.uuid4()

    def token(self, size_bytes: int) -> str:
        return secrets.token_urlsafe(size_bytes)
