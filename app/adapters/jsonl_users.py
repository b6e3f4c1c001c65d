"""Users from a JSON Lines file, read as a ``UserSource``: one JSON object per line.

Fields: ``email``, ``first_name``, ``last_name``, ``password_hash`` (argon2
PHC or bcrypt) required; ``id`` (a UUID), ``role`` (``user`` by default),
``avatar``, ``created_at`` and ``updated_at`` (ISO 8601 with a zone) optional.
A line without an ``id`` gets one derived from its address's canonical form
(a name-based UUID), so running the same file again finds the same users.
Blank lines are skipped; a line that is not such an object is refused with
its number and why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.domain.importing import Refused, SourceUser
from app.domain.users import canonical_email

# The namespace of ids derived from addresses (a fixed, random UUID).
DERIVED_ID_NAMESPACE = uuid.UUID("8c0b5a4e-3d0a-4c55-9a7e-2f6a1f3b9d21")
_REQUIRED = ("email", "first_name", "last_name", "password_hash")
_OPTIONAL = ("id", "role", "avatar", "created_at", "updated_at")


class _BadLine(ValueError):
    pass


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadLine(f"{name}: must be a string")
    return value


def _moment(record: dict[str, Any], name: str, default: datetime) -> datetime:
    text = _text(record, name)
    if not text:
        return default
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise _BadLine(f"{name}: is not an ISO 8601 time") from err
    if moment.tzinfo is None:
        raise _BadLine(f"{name}: must name its time zone")
    return moment


def _user(line: str, reference: str, now: datetime) -> SourceUser:
    try:
        record = json.loads(line)
    except ValueError as err:
        raise _BadLine("not valid JSON") from err
    if not isinstance(record, dict):
        raise _BadLine("not a JSON object")
    unknown = sorted(set(record) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise _BadLine(f"unknown fields: {', '.join(unknown)}")
    missing = [name for name in _REQUIRED if not _text(record, name)]
    if missing:
        raise _BadLine(f"{missing[0]}: is required")
    email = _text(record, "email")
    raw_id = _text(record, "id")
    try:
        user_id = (
            uuid.UUID(raw_id)
            if raw_id
            else uuid.uuid5(DERIVED_ID_NAMESPACE, canonical_email(email.strip()))
        )
    except ValueError as err:
        raise _BadLine("id: is not a valid UUID") from err
    created_at = _moment(record, "created_at", now)
    return SourceUser(
        reference=reference,
        id=user_id,
        email=email,
        first_name=_text(record, "first_name"),
        last_name=_text(record, "last_name"),
        password_hash=_text(record, "password_hash"),
        role=_text(record, "role"),
        avatar=_text(record, "avatar") or None,
        created_at=created_at,
        updated_at=_moment(record, "updated_at", created_at),
    )


class JsonLinesUsers:
    """Satisfies ``UserSource`` over a file, read a line at a time."""

    def __init__(self, path: Path, *, batch_size: int) -> None:
        self._path = path
        self._batch_size = batch_size
        self._now = datetime.now(UTC)

    async def count(self) -> int | None:
        with self._path.open(encoding="utf-8") as lines:
            return sum(1 for line in lines if line.strip())

    async def batches(self) -> AsyncIterator[list[SourceUser | Refused]]:
        batch: list[SourceUser | Refused] = []
        for row in self._rows():
            batch.append(row)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _rows(self) -> Iterator[SourceUser | Refused]:
        with self._path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                reference = f"line {number}"
                try:
                    yield _user(line, reference, self._now)
                except _BadLine as err:
                    yield Refused(reference, str(err))
