"""The Redis keys of sessions: one home for their names, for the store and for adopted sessions.

On one Redis the names are those the service always used:

* ``session:<sha256(id)>``, ``user-sessions:<user id>``, ``principal:<user id>``.

On a Redis Cluster every key of a user carries the user's id as its hash tag,
so one script reaches all of them in one slot, and users spread over the
slots (docs/adr/0006-sessions-on-a-redis-cluster.md):

* ``session:{<user id>}:<sha256(id)>``, ``user-sessions:{<user id>}``,
  ``principal:{<user id>}``, and ``session-events:{<user id>}``, the list the
  scripts leave their events in until they are appended to the events stream
  (in another slot; ``session_events``). On one Redis the scripts append to
  the stream themselves.

The scripts name a session of the user's index from :meth:`SessionKeys.sessions`
(the prefix of that user's session keys), which no caller can name before the
script reads the index.
"""

from __future__ import annotations

import re
from uuid import UUID

from app.adapters.redis.streams import EventStreams


class SessionKeys:
    """Names the keys of sessions under ``prefix``, in one Redis's layout or a cluster's."""

    def __init__(self, prefix: str, *, cluster: bool, streams: EventStreams | None = None) -> None:
        """``streams``: the events' streams, for a store that publishes events."""
        self.prefix = prefix
        self.cluster = cluster
        self._streams = streams

    def stream_of(self, user_id: UUID) -> str:
        """The events stream a user's session events are published to: the user's partition."""
        if self._streams is None:
            raise RuntimeError("these session keys were made for a store that publishes no events")
        return self._streams.key_for_user(user_id)

    def for_session(self, user_id: UUID, digest: str) -> tuple[str, str, str, str]:
        """A session's script KEYS: the session, its user's index, principal and events."""
        return (
            self.session(user_id, digest),
            self.index(user_id),
            self.principal(user_id),
            self.events(user_id),
        )

    def _user(self, user_id: UUID) -> str:
        return f"{{{user_id}}}" if self.cluster else str(user_id)

    def sessions(self, user_id: UUID) -> str:
        """The prefix of the user's session keys: a digest after it names one."""
        if self.cluster:
            return f"{self.prefix}session:{{{user_id}}}:"
        return f"{self.prefix}session:"

    def session(self, user_id: UUID, digest: str) -> str:
        """The hash of one session, named by the digest of its id (never the id itself)."""
        return f"{self.sessions(user_id)}{digest}"

    def legacy_session(self, digest: str) -> str:
        """A session's key on one Redis, where it can be read without knowing its user."""
        return f"{self.prefix}session:{digest}"

    def index(self, user_id: UUID) -> str:
        """The index of a user's sessions."""
        return f"{self.prefix}user-sessions:{self._user(user_id)}"

    def principal(self, user_id: UUID) -> str:
        """The user's principal as the sessions' scripts check it (status, role, epoch)."""
        return f"{self.prefix}principal:{self._user(user_id)}"

    def events(self, user_id: UUID) -> str:
        """Where the scripts append the user's events: the stream, on a cluster a list."""
        return self.waiting_events(user_id) if self.cluster else self.stream_of(user_id)

    def waiting_events(self, user_id: UUID) -> str:
        """On a cluster, the user's events the scripts made, on their way to the stream."""
        return f"{self.prefix}session-events:{{{user_id}}}"

    def waiting_events_pattern(self) -> str:
        """A SCAN pattern matching every user's waiting-events list (the prefix escaped)."""
        return f"{_glob_escaped(self.prefix)}session-events:{{*}}"

    def user_of_waiting_events(self, key: str) -> UUID | None:
        """The user whose waiting-events list ``key`` is (None if it names none)."""
        head = f"{self.prefix}session-events:{{"
        if not (key.startswith(head) and key.endswith("}")):
            return None
        try:
            return UUID(key[len(head) : -1])
        except ValueError:
            return None

    def imported(self, digest: str) -> str:
        """The marker of a session adopted from the Go service; it holds its user's id."""
        return f"{self.prefix}imported-session:{digest}"


def _glob_escaped(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
