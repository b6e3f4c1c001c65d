"""Reading the session id from request metadata."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SESSION_KEY = "session_id"
AUTHORIZATION_KEY = "authorization"
BEARER = "bearer "


def session_id_from(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """The ``session_id`` entry, else the token of ``authorization: Bearer <id>``."""
    bearer: str | None = None
    for key, value in metadata or ():
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if key == SESSION_KEY and text.strip():
            return text.strip()
        if key == AUTHORIZATION_KEY and text[: len(BEARER)].lower() == BEARER:
            bearer = text[len(BEARER) :].strip() or None
    return bearer
