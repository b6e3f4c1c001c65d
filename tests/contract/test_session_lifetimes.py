"""The session store's clock rules, held by the fake (on its own clock) and Redis's scripts
(on Redis's clock, so the lifetimes here are whole seconds and really pass there)."""

from __future__ import annotations

from datetime import timedelta

from app.domain.events import EventType
from tests.support.session_stores import SessionPolicy
from tests.support.sessions import create, principal, revoked


async def test_a_session_lives_its_lifetime_from_login_and_ends_then_however_busy(
    session_stores,
):
    under_test = session_stores(SessionPolicy(idle_seconds=60, lifetime_seconds=1))
    store, user = under_test.store, principal()
    await create(store, "busy", user)
    (record,) = await store.list(user.user.id, "busy")
    assert record.expires_at - record.created_at == timedelta(seconds=1)
    assert await store.resolve("busy", revoked()) is not None
    await under_test.wait(1.2)
    assert await store.resolve("busy", revoked()) is None
    assert await store.list(user.user.id, "busy") == []


async def test_using_a_session_keeps_it_past_its_idle_timeout(session_stores):
    under_test = session_stores(SessionPolicy(idle_seconds=2))
    store, user = under_test.store, principal()
    await create(store, "used", user)
    await under_test.wait(1.2)
    assert await store.resolve("used", revoked()) is not None
    await under_test.wait(1.2)  # 2.4 s after login, 1.2 s after its last use
    lookup = await store.resolve("used", revoked())
    assert lookup is not None and lookup.ended is None
    (record,) = await store.list(user.user.id, "used")
    assert record.created_at < record.last_seen < record.expires_at


async def test_an_unused_session_goes_after_its_idle_timeout_without_an_event(session_stores):
    under_test = session_stores(SessionPolicy(idle_seconds=1))
    store, user = under_test.store, principal()
    await create(store, "idle", user)
    await under_test.wait(1.3)
    assert await store.resolve("idle", revoked()) is None
    assert await store.revoke_all(user.user.id, revoked()) == 0
    assert [e.type for e in await under_test.events()] == [EventType.USER_LOGGED_IN]


async def test_an_idle_session_does_not_count_against_the_cap(session_stores):
    under_test = session_stores(SessionPolicy(idle_seconds=1, cap=1))
    store, user = under_test.store, principal()
    await create(store, "idle", user)
    await under_test.wait(1.3)
    assert await create(store, "fresh", user) == 0


async def test_a_principal_is_stale_past_its_refresh_bound_until_written_again(session_stores):
    under_test = session_stores(SessionPolicy(refresh_seconds=1))
    store, user = under_test.store, principal()
    await create(store, "s1", user)
    await under_test.wait(1.2)
    lookup = await store.resolve("s1", revoked())
    assert lookup is not None and lookup.principal == user and lookup.stale
    await store.put_principal(user)
    lookup = await store.resolve("s1", revoked())
    assert lookup is not None and not lookup.stale
