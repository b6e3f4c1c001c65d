"""UpdateProfile and UpdateUser through the real service: AIP-134 masks, events, authorization."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from app.grpc.generated import user_service_pb2 as pb
from tests.support.application import use_cases_of
from tests.support.client import (
    admin_session,
    failure,
    get_me,
    is_unauthenticated,
    login,
    register,
    registered_session,
    session_metadata,
    unique_email,
)

AVATAR = "https://example.com/a.png"


def _update(
    first: str = "", last: str = "", avatar: str = "", *paths: str, uuid: str = "", **fixed: str
) -> pb.UpdateProfileRequest:
    """An UpdateProfile request; ``fixed``: ``email`` or ``role``."""
    mask = FieldMask(paths=list(paths)) if paths else None
    user = pb.User(
        uuid=uuid,
        first_name=first,
        last_name=last,
        avatar=avatar,
        email=fixed.get("email", ""),
        role=fixed.get("role", ""),
    )
    return pb.UpdateProfileRequest(user=user, update_mask=mask)


async def _profile_events(application, user_id: str) -> list[dict[str, str]]:
    rows = await application.pool.fetch(
        "SELECT data FROM event_outbox WHERE user_id = $1 AND event_type = 'user.profile_updated'"
        " ORDER BY id",
        uuid.UUID(user_id),
    )
    return [json.loads(row["data"]) for row in rows]


async def test_without_a_mask_the_fields_that_are_set_change(stub, application):
    user, session_id = await registered_session(stub)
    me = session_metadata(session_id)
    updated = await stub.UpdateProfile(_update(" Grace ", avatar=AVATAR), metadata=me)
    assert (updated.user.first_name, updated.user.last_name) == ("Grace", user.last_name)
    assert updated.user.avatar == AVATAR
    assert updated.user.updated_at.ToDatetime() > user.updated_at.ToDatetime()
    # The principal beside the session shows it at once.
    assert (await get_me(stub, session_id)).user.first_name == "Grace"
    [event] = await _profile_events(application, user.uuid)
    assert event["fields"] == "avatar,first_name"
    assert event["actor_id"] == user.uuid
    assert "Grace" not in json.dumps(event) and AVATAR not in json.dumps(event)


async def test_a_mask_changes_only_the_fields_it_names_and_may_clear_the_avatar(stub):
    _, session_id = await registered_session(stub)
    me = session_metadata(session_id)
    await stub.UpdateProfile(_update(avatar=AVATAR), metadata=me)
    updated = await stub.UpdateProfile(
        _update("Ignored", "Hopper", "", "last_name", "avatar"), metadata=me
    )
    assert (updated.user.first_name, updated.user.last_name, updated.user.avatar) == (
        "Ada",
        "Hopper",
        "",
    )


async def test_the_wildcard_mask_replaces_every_field_and_refuses_an_empty_name(stub):
    _, session_id = await registered_session(stub)
    me = session_metadata(session_id)
    error = await failure(stub.UpdateProfile(_update("", "Hopper", "", "*"), metadata=me))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert str(error.details()).startswith("user.first_name:")
    updated = await stub.UpdateProfile(_update("Grace", "Hopper", "", "*"), metadata=me)
    assert (updated.user.first_name, updated.user.last_name) == ("Grace", "Hopper")


@pytest.mark.parametrize(
    ("request_", "field", "named"),
    [
        (_update("Grace", "", "", "first_name", "nickname", "zz"), "update_mask", "nickname, zz"),
        (_update("Grace", "", "", "email"), "update_mask", "email"),
        (_update("Grace", "", "", "role", "created_at"), "update_mask", "created_at, role"),
        (_update("Grace", email="new@example.com"), "user.email", "user.email"),
        (_update("Grace", role="admin"), "user.role", "user.role"),
        (_update(), "update_mask", "no field"),
        (_update(avatar="javascript:alert(1)"), "user.avatar", "scheme"),
        (_update("\u202eevil"), "user.first_name", "invisible"),
    ],
)
async def test_unknown_unchangeable_and_invalid_fields_are_refused_by_name(
    stub, request_, field, named
):
    user, session_id = await registered_session(stub)
    error = await failure(stub.UpdateProfile(request_, metadata=session_metadata(session_id)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = str(error.details())
    assert details.startswith(f"{field}:") and named in details
    assert (await get_me(stub, session_id)).user.first_name == user.first_name


async def test_a_change_that_changes_nothing_writes_no_event(stub, application):
    user, session_id = await registered_session(stub)
    same = await stub.UpdateProfile(_update(user.first_name), metadata=session_metadata(session_id))
    assert same.user.updated_at == user.updated_at
    assert await _profile_events(application, user.uuid) == []


async def test_update_profile_names_only_the_caller(stub):
    other = await register(stub)
    user, session_id = await registered_session(stub)
    me = session_metadata(session_id)
    error = await failure(stub.UpdateProfile(_update("Eve", uuid=other.uuid), metadata=me))
    assert (error.code(), str(error.details()).split(":")[0]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "user.uuid",
    )
    own = await stub.UpdateProfile(_update("Eve", uuid=user.uuid), metadata=me)
    assert own.user.first_name == "Eve"
    assert await is_unauthenticated(stub.UpdateProfile(_update("Eve")))


def _update_user(user_id: str, first: str = "Grace", *paths: str) -> pb.UpdateUserRequest:
    mask = FieldMask(paths=list(paths)) if paths else None
    return pb.UpdateUserRequest(user=pb.User(uuid=user_id, first_name=first), update_mask=mask)


async def test_an_admin_updates_a_user_the_cache_and_the_principal_follow(stub, application):
    _, admin_id = await admin_session(stub, use_cases_of(application).accounts)
    admin = session_metadata(admin_id)
    email = unique_email()
    user = await register(stub, email)
    _, session_id = await login(stub, email)
    # FindByID caches the user; the update must drop that copy.
    await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin)
    updated = await stub.UpdateUser(_update_user(user.uuid, "Grace", "first_name"), metadata=admin)
    assert updated.user.first_name == "Grace"
    found = await stub.FindByID(pb.FindByIDRequest(uuid=user.uuid), metadata=admin)
    assert found.user.first_name == "Grace"
    assert (await get_me(stub, session_id)).user.first_name == "Grace"
    [event] = await _profile_events(application, user.uuid)
    assert event["fields"] == "first_name" and event["actor_id"] != user.uuid
    assert event["source_address"]


async def test_update_user_needs_an_admin(stub, application):
    target = await register(stub)
    _, user_session = await registered_session(stub)
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    service_email = unique_email("service")
    await register(stub, service_email, role="service", metadata=session_metadata(admin))
    _, service_session = await login(stub, service_email)
    request = _update_user(target.uuid)
    assert await is_unauthenticated(stub.UpdateUser(request))
    for session_id in (user_session, service_session):
        error = await failure(stub.UpdateUser(request, metadata=session_metadata(session_id)))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    missing = _update_user(str(uuid.uuid4()))
    error = await failure(stub.UpdateUser(missing, metadata=session_metadata(admin)))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await failure(stub.UpdateUser(_update_user("nope"), metadata=session_metadata(admin)))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "user.uuid: is not a valid UUID",
    )
