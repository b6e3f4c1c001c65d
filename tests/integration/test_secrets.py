"""Nothing secret leaves the service: not in responses, not in logs."""

from __future__ import annotations

import io
import logging

from app.grpc.generated import user_service_pb2 as pb
from tests.client import PASSWORD, login, register, session_metadata, unique_email


def test_the_user_message_reserves_the_old_password_field():
    descriptor = pb.User.DESCRIPTOR
    assert 5 not in descriptor.fields_by_number
    assert "password" not in descriptor.fields_by_name


async def test_no_password_hash_or_session_id_in_responses_or_logs(stub, application):
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    root = logging.getLogger()
    root.addHandler(handler)
    saved_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        email = unique_email("secret")
        registered = await register(stub, email)
        _, session_id = await login(stub, email)
        metadata = session_metadata(session_id)
        responses = [
            pb.RegisterResponse(user=registered),
            await stub.GetMe(pb.GetMeRequest(), metadata=metadata),
            await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=metadata),
            await stub.FindByEmail(pb.FindByEmailRequest(email=email), metadata=metadata),
            await stub.Logout(pb.LogoutRequest(), metadata=metadata),
        ]
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
    password_hash = await application.pool.fetchval(
        "SELECT password_hash FROM users WHERE email = $1", email
    )
    assert password_hash.startswith("$argon2id$")
    wire = b"".join(response.SerializeToString() for response in responses)
    for secret in (PASSWORD, password_hash, session_id):
        assert secret.encode() not in wire
        assert secret not in captured.getvalue()
    # The workload was logged at all, so the check above looked at something.
    assert "rpc finished" in captured.getvalue()
