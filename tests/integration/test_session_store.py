"""The session store's scripts on real Redis, step by step: the interleavings the races
test leave to chance (a login that loses to a revocation), made deterministic.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from app.adapters.redis.sessions import SessionRedisRepository
from app.bootstrap import events_stream_key
from app.domain.clients import Client
from app.domain.events import session_revoked, user_logged_in
from app.domain.sessions import SessionEndReason
from app.domain.users import Principal, Role, User, UserStatus

CLIENT = Client(address="192.0.2.7", user_agent="store-test")


@pytest.fixture
def store(application) -> SessionRedisRepository:
    settings = application.settings
    return SessionRedisRepository(
        application.redis,
        key_prefix=settings.redis.key_prefix,
        ttl_seconds=60,
        absolute_lifetime_seconds=3600,
        max_per_user=10,
        user_refresh_seconds=30,
        stream_key=events_stream_key(settings),
        stream_max_length=1000,
    )


def _principal(version: int = 1, epoch: int = 0) -> Principal:
    now = datetime.now(UTC)
    user = User(uuid.uuid4(), "s@example.com", "S", "T", Role.USER, None, now, now)
    return Principal(user, UserStatus.ACTIVE, version=version, sessions_epoch=epoch)


async def _create(store: SessionRedisRepository, session_id: str, principal: Principal):
    return await store.create(
        session_id,
        principal,
        CLIENT,
        user_logged_in(principal.user),
        session_revoked(SessionEndReason.CAP),
    )


def _revoked():
    return session_revoked(SessionEndReason.REVOKED)


async def test_a_login_that_read_an_older_epoch_is_refused_once_the_revocation_is_stored(store):
    before = _principal(version=1, epoch=0)
    after = dataclasses.replace(before, version=2, sessions_epoch=1)
    await store.revoke_all(before.user.id, _revoked(), principal=after)
    assert await _create(store, "late-login", before) is None
    assert await store.resolve("late-login", _revoked()) is None


async def test_a_session_made_before_the_epoch_moved_is_ended_at_its_next_use(store):
    before = _principal(version=1, epoch=0)
    assert await _create(store, "early-login", before) == 0
    # The principal moves on without a sweep (as when the sweep ran first).
    await store.put_principal(dataclasses.replace(before, version=2, sessions_epoch=1))
    lookup = await store.resolve("early-login", _revoked())
    assert lookup is not None and lookup.ended is SessionEndReason.REVOKED
    assert await store.resolve("early-login", _revoked()) is None


async def test_a_disabled_principal_refuses_logins_and_ends_sessions(store):
    active = _principal(version=1)
    await _create(store, "before-disable", active)
    disabled = dataclasses.replace(active, version=2, status=UserStatus.DISABLED)
    await store.put_principal(disabled)
    assert await _create(store, "after-disable", active) is None
    lookup = await store.resolve("before-disable", _revoked())
    assert lookup is not None and lookup.ended is SessionEndReason.DISABLED


async def test_an_older_principal_never_replaces_a_newer_one(store):
    newer = _principal(version=5)
    await _create(store, "guarded", newer)
    older = dataclasses.replace(
        newer, version=4, user=dataclasses.replace(newer.user, role=Role.ADMIN)
    )
    await store.put_principal(older)
    lookup = await store.resolve("guarded", _revoked())
    assert lookup is not None and lookup.principal == newer
    assert not lookup.stale


async def test_the_kept_session_moves_to_the_new_epoch(store):
    principal = _principal(version=1, epoch=0)
    for session_id in ("kept", "other"):
        await _create(store, session_id, principal)
    changed = dataclasses.replace(principal, version=2, sessions_epoch=1)
    ended = await store.revoke_all(
        principal.user.id, _revoked(), keep_session_id="kept", principal=changed
    )
    assert ended == 1
    lookup = await store.resolve("kept", _revoked())
    assert lookup is not None and lookup.ended is None and lookup.sessions_epoch == 1
