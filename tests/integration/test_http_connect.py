"""The HTTP port end to end with a plain HTTP client: every account, session and admin RPC
as JSON, the Connect error form (401, 429, 400), gRPC-Web and Connect's binary form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.application import use_cases_of
from tests.support.client import PASSWORD, admin_session, failure, register, unique_email
from tests.support.connect import (
    ConnectClient,
    connect_detail,
    connect_reason,
    grpc_web_frame,
    grpc_web_frames,
    method_url,
)
from tests.support.error_details import reason_of, retry_delay_seconds
from tests.support.logs import captured_logs
from tests.support.passwords import HeldVerifications
from tests.support.throttling import SMALL, WRONG, address

NEW_PASSWORD = "another quite long passphrase"


@pytest.fixture
async def connect(application: Application) -> AsyncIterator[ConnectClient]:
    base = f"http://127.0.0.1:{application.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield ConnectClient(client)


async def _registered(connect: ConnectClient, tag: str = "http") -> tuple[dict[str, Any], str, str]:
    """A new user registered and logged in over HTTP: the user, the email, the session."""
    email = unique_email(tag)
    body = {"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"}
    user = (await connect.ok("Register", body))["user"]
    login = await connect.ok("Login", {"email": email, "password": PASSWORD})
    return user, email, login["sessionId"]


async def test_a_user_registers_logs_in_and_reads_themself_over_json(connect):
    user, email, session = await _registered(connect)
    assert user["email"] == email and user["firstName"] == "Ada"
    me = await connect.ok("GetMe", session_id=session)
    assert me["user"]["uuid"] == user["uuid"]
    found = await connect.ok("FindByEmail", {"email": email}, session_id=session)
    assert found["user"]["uuid"] == user["uuid"]
    by_id = await connect.ok("FindByID", {"uuid": user["uuid"]}, session_id=session)
    assert by_id["user"]["email"] == email
    # The session_id header is the other way to present it, as in gRPC's metadata.
    response = await connect.post("GetMe", headers={"session_id": session})
    assert response.json()["user"]["uuid"] == user["uuid"]


async def test_sessions_are_listed_revoked_and_ended_over_json(connect):
    _, email, session = await _registered(connect)
    second = (await connect.ok("Login", {"email": email, "password": PASSWORD}))["sessionId"]
    listed = (await connect.ok("ListSessions", session_id=session))["sessions"]
    assert len(listed) == 2
    other = next(s["handle"] for s in listed if not s.get("current"))
    assert await connect.ok("RevokeSession", {"handle": other}, session_id=session) == {}
    assert (await connect.post("GetMe", session_id=second)).status_code == 401
    await connect.ok("Login", {"email": email, "password": PASSWORD})
    assert (await connect.ok("LogoutOthers", session_id=session))["ended"] == 1
    third = (await connect.ok("Login", {"email": email, "password": PASSWORD}))["sessionId"]
    assert (await connect.ok("LogoutAll", session_id=third))["ended"] == 2
    last = (await connect.ok("Login", {"email": email, "password": PASSWORD}))["sessionId"]
    assert await connect.ok("Logout", session_id=last) == {}
    assert (await connect.post("GetMe", session_id=last)).status_code == 401


async def test_an_account_is_updated_and_deleted_by_its_owner_over_json(connect):
    _, email, session = await _registered(connect)
    changed = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert await connect.ok("ChangePassword", changed, session_id=session) == {}
    update = {"user": {"firstName": "Grace"}, "updateMask": "firstName"}
    profile = await connect.ok("UpdateProfile", update, session_id=session)
    assert profile["user"]["firstName"] == "Grace"
    deleted = await connect.ok(
        "DeleteAccount", {"currentPassword": NEW_PASSWORD}, session_id=session
    )
    assert deleted == {}
    refused = await connect.post("Login", {"email": email, "password": NEW_PASSWORD})
    assert refused.status_code == 401


async def test_an_admin_manages_users_over_json(application, connect, stub):
    _, admin = await admin_session(stub, use_cases_of(application).accounts)
    user, email, session = await _registered(connect, "managed")
    uuid = {"uuid": user["uuid"]}
    promoted = await connect.ok("SetUserRole", {**uuid, "role": "admin"}, session_id=admin)
    assert promoted["user"]["role"] == "admin"
    await connect.ok("SetUserRole", {**uuid, "role": "user"}, session_id=admin)
    assert (await connect.ok("RevokeUserSessions", uuid, session_id=admin))["ended"] == 1
    assert (await connect.post("GetMe", session_id=session)).status_code == 401
    await connect.ok("DisableUser", uuid, session_id=admin)
    await connect.ok("EnableUser", uuid, session_id=admin)
    cleared = await connect.ok("ClearLoginThrottle", {"email": email}, session_id=admin)
    assert cleared.get("cleared", 0) >= 0
    listed = await connect.ok("ListUsers", {"emailPrefix": email}, session_id=admin)
    assert [u["user"]["uuid"] for u in listed["users"]] == [user["uuid"]]
    update = {"user": {**uuid, "lastName": "Hopper"}, "updateMask": "lastName"}
    renamed = await connect.ok("UpdateUser", update, session_id=admin)
    assert renamed["user"]["lastName"] == "Hopper"
    assert await connect.ok("DeleteUser", uuid, session_id=admin) == {}
    gone = await connect.post("FindByID", uuid, session_id=admin)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_a_call_without_a_session_is_401_unauthenticated_with_its_reason(connect):
    response = await connect.post("GetMe")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "unauthenticated"
    assert connect_reason(response) == "SESSION_REQUIRED"


async def test_an_invalid_field_is_400_with_the_field_named(connect):
    response = await connect.post("Register", {"email": "not an address", "password": PASSWORD})
    assert response.status_code == 400 and response.json()["code"] == "invalid_argument"
    assert connect_reason(response) == "INVALID_FIELD"
    violation = connect_detail(response, error_details_pb2.BadRequest).field_violations[0]
    assert violation.field == "email"


async def test_a_throttled_login_is_429_resource_exhausted_with_the_retry_delay(make_application):
    # A fresh client address (127.0.0.1 trusted as a proxy): the run's other tests
    # share this Redis, and their failed logins from 127.0.0.1 must not count here.
    throttled = await make_application(throttling=SMALL, grpc={"trusted_proxies": ["127.0.0.1/32"]})
    base = f"http://127.0.0.1:{throttled.http_port}"
    headers = {"x-forwarded-for": address()}
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        connect = ConnectClient(client)
        _, email, _ = await _registered(connect, "throttled")
        statuses = [
            (await connect.post("Login", {"email": email, "password": WRONG})).status_code
            for _ in range(4)
        ]
        refused = await connect.post("Login", {"email": email, "password": PASSWORD})
    assert statuses == [401, 401, 401, 429]
    assert refused.status_code == 429 and refused.json()["code"] == "resource_exhausted"
    assert connect_reason(refused) == "TOO_MANY_ATTEMPTS"
    delay = connect_detail(refused, error_details_pb2.RetryInfo).retry_delay
    assert delay.seconds > 0


async def test_a_method_at_its_limit_refuses_an_http_call_as_it_refuses_a_grpc_call(
    make_application, monkeypatch
):
    application = await make_application(grpc={"method_concurrency": {"Login": 1}})
    base = f"http://127.0.0.1:{application.http_port}"
    email = unique_email("busy")
    request = pb.LoginRequest(email=email, password=PASSWORD)
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{application.port}") as channel,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        stub = pb_grpc.UserServiceStub(channel)
        await register(stub, email)
        checks = HeldVerifications(application.passwords, monkeypatch)
        held = asyncio.ensure_future(stub.Login(request))
        await checks.wait_for(1)  # the one Login slot, shared by both ports, is taken
        refused = await ConnectClient(client).post("Login", {"email": email, "password": PASSWORD})
        grpc_refused = await failure(stub.Login(request))
        checks.release()
        assert (await held).session_id
    assert refused.status_code == 429 and refused.json()["code"] == "resource_exhausted"
    assert refused.json()["message"] == grpc_refused.details()
    assert connect_reason(refused) == reason_of(grpc_refused) == "SERVER_BUSY"
    delay = connect_detail(refused, error_details_pb2.RetryInfo).retry_delay
    assert delay.seconds + delay.nanos / 1e9 == retry_delay_seconds(grpc_refused) > 0


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"email": 5}', b"\xff\xfe"], ids=["syntax", "type", "utf"]
)
async def test_a_malformed_json_body_is_400_and_no_fault(connect, body):
    with captured_logs() as logs:
        response = await connect.http.post(
            method_url("Login"), content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400 and response.json()["code"] == "invalid_argument"
    assert connect_reason(response) == "MALFORMED_REQUEST"
    [finished] = logs.events("rpc finished")
    assert finished["grpc_code"] == "INVALID_ARGUMENT" and finished["protocol"] == "connect"
    lines = [line for line in logs.text.splitlines() if '"level": "' in line]
    assert lines and not any(
        '"level": "warning"' in line or '"level": "error"' in line for line in lines
    )


async def test_connect_binary_calls_answer_in_protobuf(connect):
    _, email, session = await _registered(connect, "binary")
    response = await connect.http.post(
        method_url("GetMe"),
        content=pb.GetMeRequest().SerializeToString(),
        headers={"content-type": "application/proto", "authorization": f"Bearer {session}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/proto"
    assert pb.GetMeResponse.FromString(response.content).user.email == email


async def test_grpc_web_calls_carry_the_status_and_details_in_trailers(connect):
    _, email, session = await _registered(connect, "web")
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    answered = await connect.http.post(
        method_url("GetMe"),
        content=grpc_web_frame(pb.GetMeRequest()),
        headers={**headers, "session_id": session},
    )
    [message], trailers = grpc_web_frames(answered.content)
    assert trailers["grpc-status"] == "0"
    assert pb.GetMeResponse.FromString(message).user.email == email
    refused = await connect.http.post(
        method_url("GetMe"), content=grpc_web_frame(pb.GetMeRequest()), headers=headers
    )
    messages, trailers = grpc_web_frames(refused.content)
    if not trailers:  # a trailers-only answer: the status is in the headers
        trailers = dict(refused.headers)
    assert messages == [] and trailers["grpc-status"] == "16"
    assert "grpc-status-details-bin" in trailers
