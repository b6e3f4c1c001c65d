"""ListUsers through the gRPC channel on the real stores: pages, filters, tokens, who may list."""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from app.adapters.login_secrets import LoginSecrets
from app.adapters.page_tokens import SignedPageTokens
from app.domain.listing import PageCursor, UserFilter
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import ApplicationFactory, use_cases_of
from tests.support.client import (
    admin_session,
    failure,
    login,
    register,
    registered_session,
    session_metadata,
    unique_email,
)

MAX_PAGES = 100


@dataclass
class Admin:
    stub: pb_grpc.UserServiceAsyncStub
    session_id: str

    def list(self, **fields: Any) -> Awaitable[pb.ListUsersResponse]:
        return self.stub.ListUsers(
            pb.ListUsersRequest(**fields), metadata=session_metadata(self.session_id)
        )

    async def walk(self, **fields: Any) -> builtins.list[pb.ListedUser]:
        """Every page, in order, with the same filters."""
        listed: list[pb.ListedUser] = []
        token = ""
        for _ in range(MAX_PAGES):
            page = await self.list(page_token=token, **fields)
            listed.extend(page.users)
            token = page.next_page_token
            if not token:
                return listed
        raise AssertionError("the pages did not end")


@pytest.fixture
async def admin(stub, application) -> Admin:
    _, session_id = await admin_session(stub, use_cases_of(application).accounts)
    return Admin(stub, session_id)


def _tag() -> str:
    """A prefix of this test's own: its users, and no one else's, match it."""
    return f"list{uuid.uuid4().hex[:10]}-"


async def _registered(stub, tag: str, count: int) -> list[pb.User]:
    return [await register(stub, f"{tag}{n}@example.com") for n in range(count)]


def _key(listed: pb.ListedUser) -> tuple[datetime, uuid.UUID]:
    return (listed.user.created_at.ToDatetime(tzinfo=UTC), uuid.UUID(listed.user.uuid))


def _field_violation(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest.FieldViolation:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    bad_requests = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            bad_requests.append(bad_request)
    [bad_request] = bad_requests
    [violation] = bad_request.field_violations
    return violation


async def test_a_walk_lists_every_user_once_in_order_while_others_register(
    stub, application, admin
):
    since = await application.pool.fetchval("SELECT now()")
    await _registered(stub, _tag(), 23)
    before = {
        row["id"]
        for row in await application.pool.fetch(
            "SELECT id FROM users WHERE created_at >= $1", since
        )
    }
    stamp = Timestamp()
    stamp.FromDatetime(since)
    listed: list[pb.ListedUser] = []
    token, inserted = "", []
    for _ in range(MAX_PAGES):
        # Each page is asked for while another user registers.
        page, new_user = await asyncio.gather(
            admin.list(page_size=4, page_token=token, created_from=stamp), register(stub)
        )
        inserted.append(new_user.uuid)
        listed.extend(page.users)
        token = page.next_page_token
        if not token:
            break
    ids = [uuid.UUID(each.user.uuid) for each in listed]
    assert len(ids) == len(set(ids)), "a user was listed twice"
    assert before <= set(ids), "a user who existed before the walk was missed"
    keys = [_key(each) for each in listed]
    assert keys == sorted(keys)
    assert len(inserted) >= 6  # the walk took several pages, each with a registration


async def test_an_unfiltered_walk_at_the_largest_page_lists_everyone(stub, application, admin):
    await register(stub)
    listed = await admin.walk(page_size=10_000)
    count = await application.pool.fetchval("SELECT count(*) FROM users")
    assert len({each.user.uuid for each in listed}) == len(listed) == count


async def test_filters_by_email_prefix_role_status_and_creation_range(stub, admin):
    tag = _tag()
    users = await _registered(stub, tag, 4)
    metadata = session_metadata(admin.session_id)
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=users[1].uuid, role="service"), metadata=metadata
    )
    await stub.SetUserRole(
        pb.SetUserRoleRequest(uuid=users[2].uuid, role="admin"), metadata=metadata
    )
    await stub.DisableUser(pb.DisableUserRequest(uuid=users[3].uuid), metadata=metadata)

    async def uuids(**fields: Any) -> list[str]:
        return [each.user.uuid for each in await admin.walk(page_size=2, **fields)]

    everyone = await admin.walk(email_prefix=tag.upper())
    assert [each.user.uuid for each in everyone] == [user.uuid for user in users]
    assert [each.status for each in everyone] == ["active", "active", "active", "disabled"]
    assert await uuids(email_prefix=f"{tag}1@") == [users[1].uuid]
    assert await uuids(email_prefix=tag, role="service") == [users[1].uuid]
    assert await uuids(email_prefix=tag, role="admin") == [users[2].uuid]
    assert await uuids(email_prefix=tag, role="user") == [users[0].uuid, users[3].uuid]
    assert await uuids(email_prefix=tag, status="disabled") == [users[3].uuid]
    assert await uuids(email_prefix=tag, status="active", role="user") == [users[0].uuid]
    # [created_from, created_before): the second user's creation time up to the last's.
    second, last = everyone[1].user.created_at, everyone[3].user.created_at
    window = await uuids(email_prefix=tag, created_from=second, created_before=last)
    assert window == [users[1].uuid, users[2].uuid]
    assert await uuids(created_from=last, email_prefix=tag) == [users[3].uuid]
    assert await uuids(email_prefix=unique_email("nobody")) == []


async def _token_refusal(admin: Admin, **fields: Any) -> str:
    violation = _field_violation(await failure(admin.list(**fields)))
    assert violation.field == "page_token"
    return violation.description


async def test_forged_altered_stale_and_other_filter_tokens_are_invalid(stub, application, admin):
    tag = _tag()
    await _registered(stub, tag, 3)
    first = await admin.list(page_size=1, email_prefix=tag)
    token = first.next_page_token
    assert token
    assert "not a page token" in await _token_refusal(
        admin, email_prefix=tag, page_token="forged-token"
    )
    altered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    assert "not a page token" in await _token_refusal(admin, email_prefix=tag, page_token=altered)
    assert "other filters" in await _token_refusal(admin, email_prefix=f"{tag}1", page_token=token)
    assert "other filters" in await _token_refusal(
        admin, email_prefix=tag, role="user", page_token=token
    )
    # Made by the service's own key, but issued longer ago than the lifetime.
    lifetime = application.settings.listing.page_token_lifetime_seconds
    assert application.resources.login_root is not None
    key = LoginSecrets(application.resources.login_root).page_token_key
    stale = SignedPageTokens(key, lifetime_seconds=lifetime, clock=_Ago(lifetime + 5)).issue(
        UserFilter(email_prefix=tag), PageCursor(datetime.now(UTC), uuid.uuid4())
    )
    assert "expired" in await _token_refusal(admin, email_prefix=tag, page_token=stale)
    # The same token, with a page size of its own, is fine (AIP-158).
    second = await admin.list(page_size=5, email_prefix=tag, page_token=token)
    assert len(second.users) == 2 and not second.next_page_token


class _Ago:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self._seconds)


@pytest.fixture
async def small_pages(make_application: ApplicationFactory) -> AsyncIterator[Admin]:
    application: Application = await make_application(
        listing={"default_page_size": 3, "max_page_size": 5}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel:
        stub = pb_grpc.UserServiceStub(channel)
        _, session_id = await admin_session(stub, use_cases_of(application).accounts)
        yield Admin(stub, session_id)


async def test_page_size_zero_is_the_default_and_too_large_is_the_maximum(small_pages):
    tag = _tag()
    await _registered(small_pages.stub, tag, 7)
    assert len((await small_pages.list(email_prefix=tag)).users) == 3
    assert len((await small_pages.list(email_prefix=tag, page_size=6)).users) == 5
    assert len((await small_pages.list(email_prefix=tag, page_size=2**31 - 1)).users) == 5
    violation = _field_violation(await failure(small_pages.list(page_size=-1)))
    assert violation.field == "page_size"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role": "root"}, "role"),
        ({"status": "gone"}, "status"),
        ({"created_from": Timestamp(seconds=2**40)}, "created_from"),
        ({"created_before": Timestamp(seconds=0, nanos=-1)}, "created_before"),
        (
            {"created_from": Timestamp(seconds=10), "created_before": Timestamp(seconds=5)},
            "created_before",
        ),
    ],
)
async def test_a_bad_filter_is_a_field_violation(admin, fields, field):
    assert _field_violation(await failure(admin.list(**fields))).field == field


async def test_only_an_admin_may_list(stub, application, admin):
    assert (await failure(stub.ListUsers(pb.ListUsersRequest()))).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    _, user_session = await registered_session(stub)
    service_email = unique_email("service")
    await register(stub, service_email, role="service", metadata=session_metadata(admin.session_id))
    _, service_session = await login(stub, service_email)
    for session_id in (user_session, service_session):
        error = await failure(
            stub.ListUsers(pb.ListUsersRequest(), metadata=session_metadata(session_id))
        )
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    # A token is not even read for them: the answer is the same with a forged one.
    error = await failure(
        stub.ListUsers(
            pb.ListUsersRequest(page_token="forged"), metadata=session_metadata(user_session)
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await admin.list(page_size=1)).users
