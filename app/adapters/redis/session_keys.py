"""The Redis keys of sessions: one home for their names, for the store and for adopted sessions.

The session scripts (``session_scripts.py``) also build ``session:`` keys from
the prefix they are passed, for the members of an index, which no caller can
name before the script reads the index.
"""

from __future__ import annotations

from uuid import UUID


def session_key(prefix: str, digest: str) -> str:
    """The hash of one session, named by the digest of its id (never the id itself)."""
    return f"{prefix}session:{digest}"


def user_sessions_key(prefix: str, user_id: UUID) -> str:
    """The index of a user's sessions."""
    return f"{prefix}user-sessions:{user_id}"


def principal_key(prefix: str, user_id: UUID) -> str:
    """The user's principal as the sessions' scripts check it (status, role, epoch)."""
    return f"{prefix}principal:{user_id}"
