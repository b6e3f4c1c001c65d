"""The session store's contract, held by the in-memory fake and Redis's scripts alike.

Each test states one rule of ``app.domain.sessions`` as the store must apply
it (atomically, in Redis), so the fake the unit tests use cannot drift from
the scripts the service runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from app.domain.clients import Client
from app.domain.events import EventType, user_logged_out
from app.domain.sessions import SessionEndReason
from app.domain.users import Role, UserStatus
from tests.support.session_stores import SessionPolicy
from tests.support.sessions import CLIENT, create, ended, handle_of, principal, revoked


async def test_a_new_session_resolves_to_its_user_and_publishes_the_login(session_stores):
    under_test = session_stores(SessionPolicy())
    store, user = under_test.store, principal(epoch=3)
    assert await create(store, "s1", user) == 0
    lookup = await store.resolve("s1", revoked())
    assert lookup is not None
    assert (lookup.user_id, lookup.sessions_epoch, lookup.ended) == (user.user.id, 3, None)
    assert lookup.principal == user and not lookup.stale
    events = await under_test.events()
    assert [(e.type, e.user_id) for e in events] == [(EventType.USER_LOGGED_IN, user.user.id)]


async def test_an_unknown_session_resolves_to_nothing(session_stores):
    assert await session_stores(SessionPolicy()).store.resolve("nobody's", revoked()) is None


async def test_a_disabled_principal_refuses_logins_and_ends_sessions(session_stores):
    under_test = session_stores(SessionPolicy())
    store, active = under_test.store, principal(version=1)
    await create(store, "before-disable", active)
    handle = await handle_of(store, active, "before-disable")
    await store.put_principal(dataclasses.replace(active, version=2, status=UserStatus.DISABLED))
    assert await create(store, "after-disable", active) is None
    lookup = await store.resolve("before-disable", revoked())
    assert lookup is not None and lookup.ended is SessionEndReason.DISABLED
    assert await store.resolve("before-disable", revoked()) is None
    assert ended(await under_test.events()) == [{"reason": "disabled", "handle": handle}]


async def test_a_login_that_read_an_older_epoch_is_refused_once_the_revocation_is_stored(
    session_stores,
):
    store = session_stores(SessionPolicy()).store
    before = principal(version=1, epoch=0)
    after = dataclasses.replace(before, version=2, sessions_epoch=1)
    await store.revoke_all(before.user.id, revoked(), principal=after)
    assert await create(store, "late-login", before) is None
    assert await store.resolve("late-login", revoked()) is None


async def test_a_session_made_before_the_epoch_moved_is_ended_at_its_next_use(session_stores):
    under_test = session_stores(SessionPolicy())
    store, before = under_test.store, principal(version=1, epoch=0)
    assert await create(store, "early-login", before) == 0
    # The principal moves on without a sweep (as when the sweep ran first).
    await store.put_principal(dataclasses.replace(before, version=2, sessions_epoch=1))
    assert await store.list(before.user.id, "early-login") == []
    lookup = await store.resolve("early-login", revoked())
    assert lookup is not None and lookup.ended is SessionEndReason.REVOKED
    assert await store.resolve("early-login", revoked()) is None
    assert [e["reason"] for e in ended(await under_test.events())] == ["revoked"]


async def test_an_older_principal_never_replaces_a_newer_one(session_stores):
    store, newer = session_stores(SessionPolicy()).store, principal(version=5)
    await create(store, "guarded", newer)
    older = dataclasses.replace(
        newer, version=4, user=dataclasses.replace(newer.user, role=Role.ADMIN)
    )
    await store.put_principal(older)
    lookup = await store.resolve("guarded", revoked())
    assert lookup is not None and lookup.principal == newer
    assert not lookup.stale


async def test_the_kept_session_moves_to_the_new_epoch(session_stores):
    store, user = session_stores(SessionPolicy()).store, principal(version=1, epoch=0)
    for session_id in ("kept", "other"):
        await create(store, session_id, user)
    changed = dataclasses.replace(user, version=2, sessions_epoch=1)
    reason = revoked(SessionEndReason.PASSWORD_CHANGE)
    assert (
        await store.revoke_all(user.user.id, reason, keep_session_id="kept", principal=changed) == 1
    )
    lookup = await store.resolve("kept", revoked())
    assert lookup is not None and lookup.ended is None and lookup.sessions_epoch == 1
    assert await store.resolve("other", revoked()) is None


async def test_revoke_all_ends_each_session_once_with_an_event_of_its_own(session_stores):
    under_test = session_stores(SessionPolicy())
    store, user = under_test.store, principal()
    for index in range(3):
        await create(store, f"s{index}", user)
    handles = {await handle_of(store, user, f"s{index}") for index in range(3)}
    assert await store.revoke_all(user.user.id, revoked(SessionEndReason.LOGOUT)) == 3
    assert await store.revoke_all(user.user.id, revoked(SessionEndReason.LOGOUT)) == 0
    events = [e for e in await under_test.events() if e.type is EventType.SESSION_REVOKED]
    assert {e.data["handle"] for e in events} == handles
    assert {e.data["reason"] for e in events} == {"logout"}
    assert {e.user_id for e in events} == {user.user.id}
    assert len({e.id for e in events}) == 3


async def test_forget_ends_the_sessions_and_drops_the_principal(session_stores):
    store, user = session_stores(SessionPolicy()).store, principal(version=3)
    await create(store, "s1", user)
    assert await store.forget(user.user.id, revoked(SessionEndReason.DELETED)) == 1
    assert await store.resolve("s1", revoked()) is None
    # No version 3 is left to refuse an older copy.
    first = dataclasses.replace(user, version=1)
    await create(store, "s2", first)
    lookup = await store.resolve("s2", revoked())
    assert lookup is not None and lookup.principal == first


async def test_the_cap_ends_the_oldest_sessions_first(session_stores):
    under_test = session_stores(SessionPolicy(cap=2))
    store, user = under_test.store, principal()
    for session_id in ("oldest", "middle"):
        assert await create(store, session_id, user) == 0
        await under_test.wait(0.01)  # Redis orders sessions by the millisecond
    oldest = await handle_of(store, user, "oldest")
    assert await create(store, "newest", user) == 1
    assert await store.resolve("oldest", revoked()) is None
    for session_id in ("middle", "newest"):
        assert await store.resolve(session_id, revoked()) is not None
    assert ended(await under_test.events()) == [{"reason": "cap", "handle": oldest}]


async def test_the_list_is_newest_first_marks_the_current_and_shows_no_id(session_stores):
    under_test = session_stores(SessionPolicy())
    store, user = under_test.store, principal()
    for index in range(3):
        client = Client(address=f"192.0.2.{index}", user_agent=f"agent {index}")
        await create(store, f"s{index}", user, client)
        await under_test.wait(0.01)
    records = await store.list(user.user.id, "s1")
    assert [(r.client_address, r.user_agent, r.current) for r in records] == [
        ("192.0.2.2", "agent 2", False),
        ("192.0.2.1", "agent 1", True),
        ("192.0.2.0", "agent 0", False),
    ]
    assert [r.created_at for r in records] == sorted((r.created_at for r in records), reverse=True)
    assert not {"s0", "s1", "s2"} & {r.handle for r in records}
    assert await store.list(principal().user.id, "s1") == []


async def test_a_session_revoked_by_handle_ends_once_and_only_for_its_owner(session_stores):
    under_test = session_stores(SessionPolicy())
    store, owner = under_test.store, principal()
    await create(store, "mine", owner)
    handle = await handle_of(store, owner, "mine")
    assert not await store.revoke(principal().user.id, handle, revoked())
    assert await store.revoke(owner.user.id, handle, revoked())
    assert not await store.revoke(owner.user.id, handle, revoked())
    assert await store.resolve("mine", revoked()) is None
    assert ended(await under_test.events()) == [{"reason": "revoked", "handle": handle}]


async def test_logout_removes_the_session_and_states_its_user_in_the_event(session_stores):
    under_test = session_stores(SessionPolicy())
    store, user = under_test.store, principal()
    await create(store, "leaving", user)
    assert await store.delete("leaving", user_logged_out(CLIENT)) == user.user.id
    assert await store.delete("leaving", user_logged_out(CLIENT)) is None
    assert await store.resolve("leaving", revoked()) is None
    assert await store.list(user.user.id, "leaving") == []
    logged_out = [e for e in await under_test.events() if e.type is EventType.USER_LOGGED_OUT]
    assert [e.user_id for e in logged_out] == [user.user.id]


async def test_logins_racing_a_revocation_leave_no_session_of_the_older_epoch(session_stores):
    under_test = session_stores(SessionPolicy())
    store, before = under_test.store, principal(version=1, epoch=0)
    after = dataclasses.replace(before, version=2, sessions_epoch=1)
    ids = [f"racing-{uuid.uuid4().hex[:6]}" for _ in range(6)]
    results = await asyncio.gather(
        store.revoke_all(before.user.id, revoked(), principal=after),
        *(create(store, session_id, before) for session_id in ids),
    )
    for session_id in ids:
        assert await store.resolve(session_id, revoked()) is None
    created = sum(result == 0 for result in results[1:])
    assert results[0] == created == len(ended(await under_test.events()))


async def test_a_revocation_racing_uses_of_the_session_ends_it_once(session_stores):
    under_test = session_stores(SessionPolicy())
    store, user = under_test.store, principal()
    await create(store, "victim", user)
    handle = await handle_of(store, user, "victim")
    await asyncio.gather(
        store.revoke(user.user.id, handle, revoked()),
        *(store.resolve("victim", revoked()) for _ in range(5)),
    )
    assert await store.resolve("victim", revoked()) is None
    assert ended(await under_test.events()) == [{"reason": "revoked", "handle": handle}]
