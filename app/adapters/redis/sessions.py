"""SessionRedisRepository: sessions, their per-user index and principals, in Redis."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.utils import str_if_bytes

from app.adapters.redis import session_scripts
from app.adapters.redis.bounded_client import RedisClient
from app.adapters.redis.errors import redis_errors
from app.adapters.redis.session_events import SessionEventForwarder
from app.adapters.redis.session_keys import SessionKeys
from app.adapters.redis.streams import EventStreams, encode_envelope, encode_event
from app.adapters.redis.user_json import decode_user, encode_user
from app.domain.clients import Client
from app.domain.events import Event
from app.domain.ports import SessionLookup
from app.domain.sessions import (
    SessionEndReason,
    SessionHandle,
    SessionRecord,
    new_session_handle,
    session_owner,
)
from app.domain.users import Principal, UserStatus
from app.observability.trace_context import stamped
from app.observability.tracing import traced


def _flattened(fields: dict[str, str]) -> list[str]:
    return [part for name, value in fields.items() for part in (name, value)]


def _moment(milliseconds: str | bytes) -> datetime:
    return datetime.fromtimestamp(int(float(str_if_bytes(milliseconds))) / 1000, UTC)


def digest_of(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _record(fields: Sequence[str], current: str) -> SessionRecord:
    digest, created, seen, expires, address, agent, handle, mfa = fields
    return SessionRecord(
        handle=handle,
        created_at=_moment(created),
        last_seen=_moment(seen),
        expires_at=_moment(expires),
        client_address=address,
        user_agent=agent,
        current=digest == current,
        second_factor=mfa == "1",
    )


class SessionRedisRepository:
    """Satisfies ``SessionStore``; the layout and scripts are in ``session_scripts``.

    The session key is named by ``sha256(id)``: a dump of Redis gives no
    usable session id. A session's user is read from its id's routing part
    (:func:`~app.domain.sessions.session_owner`), so every key of a script is
    named before it runs, and on a Redis Cluster (``cluster``) they all carry
    the user's hash tag. Resolving a session (GetMe) is one script: the
    session, its lifetime, its principal and the sliding expiry in one round
    trip. An id without a route (issued before ids had one, or imported from
    the Go service) costs one more, to find its user. Every change is one
    script, so each ending happens once and publishes its event with it (on a
    cluster through the user's waiting list, ``session_events``); the events
    get the request's trace context here.

    Lifetimes are decided by Redis's clock, in the scripts, and nothing here
    reads this instance's: the principal's freshness is Redis's too, since a
    principal trusted past its refresh bound delays a change made directly in
    PostgreSQL (or whose principal write failed) on every instance.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        key_prefix: str,
        ttl_seconds: int,
        absolute_lifetime_seconds: int,
        max_per_user: int,
        user_refresh_seconds: int,
        streams: EventStreams,
        stream_max_length: int,
        cluster: bool = False,
    ) -> None:
        self._redis = redis
        self._keys = SessionKeys(key_prefix, cluster=cluster, streams=streams)
        self._ttl = ttl_seconds
        self._lifetime = absolute_lifetime_seconds
        self._cap = max_per_user
        self._refresh_ms = user_refresh_seconds * 1000
        self._stream_max_length = stream_max_length
        self._events = SessionEventForwarder(redis, self._keys, max_length=stream_max_length)
        self._create = redis.register_script(session_scripts.CREATE)
        self._resolve = redis.register_script(session_scripts.RESOLVE)
        self._put_principal = redis.register_script(session_scripts.PUT_PRINCIPAL)
        self._end = redis.register_script(session_scripts.END)
        self._revoke_all = redis.register_script(session_scripts.REVOKE_ALL)
        self._revoke = redis.register_script(session_scripts.REVOKE)
        self._list = redis.register_script(session_scripts.LIST)

    def key(self, session_id: str) -> str:
        """The session's key, for an id with a route or on one Redis."""
        owner = session_owner(session_id)
        if owner is None:
            return self._keys.legacy_session(digest_of(session_id))
        return self._keys.session(owner, digest_of(session_id))

    async def _published(self, user_id: UUID) -> None:
        """After a script that made events: on a cluster, they go on to the stream now."""
        if self._keys.cluster:
            await self._events.forward(user_id)

    async def _owner(self, session_id: str) -> UUID | None:
        """The session's user: from its id's route, else from what Redis keeps of it."""
        owner = session_owner(session_id)
        if owner is not None:
            return owner
        digest = digest_of(session_id)
        with redis_errors():
            if self._keys.cluster:  # only adopted sessions: their marker names the user
                stored = await self._redis.get(self._keys.imported(digest))
            else:
                stored = await self._redis.hget(self._keys.legacy_session(digest), "user_id")
        try:
            return None if stored is None else UUID(str_if_bytes(stored))
        except ValueError:
            return None

    def _parameters(
        self, user_id: UUID, revoked: Event | None = None, **values: Any
    ) -> dict[str, Any]:
        """The parameters every script shares, and a ``session.revoked`` template's."""
        parameters = {
            "sessions": self._keys.sessions(user_id),
            "staged": self._keys.cluster,
            "maxlen": self._stream_max_length,
            "principal_ttl": self._lifetime,
            "refresh_ms": self._refresh_ms,
            "base": "",
            "revoked": [],
            "data": {},
            "user_id": str(user_id),
            **values,
        }
        if revoked is not None:
            # The script adds each ended session's own id, user and data.
            revoked = stamped(revoked)
            fields = encode_envelope(revoked)
            parameters["base"] = fields.pop("event_id")
            if revoked.traceparent:
                fields["traceparent"] = revoked.traceparent
            parameters["reason"] = revoked.data.get("reason", SessionEndReason.REVOKED.value)
            parameters["data"] = dict(revoked.data)
            parameters["revoked"] = _flattened(fields)
        return parameters

    def _principal(self, principal: Principal) -> dict[str, Any]:
        return {
            "user": encode_user(principal.user),
            "status": principal.status.value,
            "version": principal.version,
            "epoch": principal.sessions_epoch,
        }

    async def _run(self, script: Any, keys: Sequence[str], *args: Any) -> Any:
        with redis_errors():
            return await script(keys=list(keys), args=list(args))

    @traced
    async def create(
        self,
        session_id: str,
        principal: Principal,
        client: Client,
        logged_in: Event,
        capped: Event,
        *,
        second_factor: bool = False,
    ) -> int | None:
        user_id = principal.user.id
        digest = digest_of(session_id)
        parameters = self._parameters(
            user_id,
            capped,
            idle_ttl=self._ttl,
            lifetime=self._lifetime,
            cap=self._cap,
            digest=digest,
            epoch=principal.sessions_epoch,
            handle=new_session_handle(),
            address=client.address,
            user_agent=client.user_agent,
            mfa="1" if second_factor else "0",
            principal=self._principal(principal),
        )
        keys = self._keys
        ended = await self._run(
            self._create,
            keys.for_session(user_id, digest),
            json.dumps(parameters),
            *_flattened(encode_event(stamped(logged_in))),
        )
        if int(ended) < 0:
            return None
        await self._published(user_id)
        return int(ended)

    @traced
    async def resolve(self, session_id: str, revoked: Event) -> SessionLookup | None:
        user_id = await self._owner(session_id)
        if user_id is None:
            return None
        digest = digest_of(session_id)
        parameters = self._parameters(user_id, revoked, idle_ttl=self._ttl, digest=digest)
        keys = self._keys
        reply = await self._run(
            self._resolve,
            keys.for_session(user_id, digest),
            json.dumps(parameters),
        )
        if not reply:
            return None
        values = [str_if_bytes(value) for value in reply]
        epoch, ended = int(values[1]), values[2]
        if ended:
            await self._published(user_id)
        principal = None
        stale = True
        if len(values) > 3:
            user, status, version, principal_epoch, past_fresh = values[3:8]
            principal = Principal(
                user=decode_user(user),
                status=UserStatus(status),
                version=int(version),
                sessions_epoch=int(principal_epoch),
            )
            stale = past_fresh == "1"
        return SessionLookup(
            user_id=user_id,
            sessions_epoch=epoch,
            principal=principal,
            stale=stale,
            ended=SessionEndReason(ended) if ended else None,
        )

    @traced
    async def put_principal(self, principal: Principal) -> None:
        user_id = principal.user.id
        parameters = self._parameters(user_id, principal=self._principal(principal))
        await self._run(
            self._put_principal, (self._keys.principal(user_id),), json.dumps(parameters)
        )

    @traced
    async def delete(self, session_id: str, logged_out: Event) -> UUID | None:
        user_id = await self._owner(session_id)
        if user_id is None:
            return None
        fields = encode_event(stamped(logged_out))
        fields.pop("user_id", None)  # the script states it, from the session
        digest = digest_of(session_id)
        parameters = self._parameters(user_id, digest=digest)
        keys = (
            self._keys.session(user_id, digest),
            self._keys.index(user_id),
            self._keys.events(user_id),
        )
        ended = await self._run(self._end, keys, json.dumps(parameters), *_flattened(fields))
        if ended is None:
            return None
        await self._published(user_id)
        return user_id

    @traced
    async def list(self, user_id: UUID, current_session_id: str) -> list[SessionRecord]:
        keys = (self._keys.index(user_id), self._keys.principal(user_id))
        parameters = self._parameters(user_id)
        reply = [
            str_if_bytes(value)
            for value in await self._run(self._list, keys, json.dumps(parameters))
        ]
        current = digest_of(current_session_id)
        return [_record(reply[start : start + 8], current) for start in range(0, len(reply), 8)]

    @traced
    async def revoke(self, user_id: UUID, handle: SessionHandle, revoked: Event) -> bool:
        parameters = self._parameters(user_id, revoked, handle=handle)
        keys = (self._keys.index(user_id), self._keys.events(user_id))
        ended = bool(await self._run(self._revoke, keys, json.dumps(parameters)))
        if ended:
            await self._published(user_id)
        return ended

    @traced
    async def revoke_all(
        self,
        user_id: UUID,
        revoked: Event,
        *,
        keep_session_id: str | None = None,
        principal: Principal | None = None,
    ) -> int:
        return await self._revoke_everything(user_id, revoked, keep_session_id, principal, False)

    @traced
    async def forget(self, user_id: UUID, revoked: Event) -> int:
        return await self._revoke_everything(user_id, revoked, None, None, True)

    async def _revoke_everything(
        self,
        user_id: UUID,
        revoked: Event,
        keep_session_id: str | None,
        principal: Principal | None,
        forget: bool,
    ) -> int:
        parameters = self._parameters(
            user_id,
            revoked,
            keep=digest_of(keep_session_id) if keep_session_id else "",
            principal=self._principal(principal) if principal is not None else False,
            forget=forget,
        )
        keys = (
            self._keys.index(user_id),
            self._keys.principal(user_id),
            self._keys.events(user_id),
        )
        ended = int(await self._run(self._revoke_all, keys, json.dumps(parameters)))
        if ended:
            await self._published(user_id)
        return ended
