"""Nothing secret leaves the service: not in responses, not in logs."""

from __future__ import annotations

import hashlib

from app.adapters.redis.streams import encode_event
from app.bootstrap import event_streams
from app.grpc.generated import user_service_pb2 as pb
from tests.support.client import PASSWORD, login, register, session_metadata, unique_email
from tests.support.events import stream_events
from tests.support.logs import captured_logs

NEW_PASSWORD = "an entirely new passphrase"


def test_the_user_message_reserves_the_old_password_field():
    descriptor = pb.User.DESCRIPTOR
    assert 5 not in descriptor.fields_by_number
    assert "password" not in descriptor.fields_by_name


async def test_no_password_hash_or_session_id_in_responses_logs_or_events(
    stub, application, redis, settings
):
    with captured_logs("DEBUG") as captured:
        email = unique_email("secret")
        registered = await register(stub, email)
        _, session_id = await login(stub, email)
        metadata = session_metadata(session_id)
        responses = [
            pb.RegisterResponse(user=registered),
            await stub.GetMe(pb.GetMeRequest(), metadata=metadata),
            await stub.FindByID(pb.FindByIDRequest(uuid=registered.uuid), metadata=metadata),
            await stub.FindByEmail(pb.FindByEmailRequest(email=email), metadata=metadata),
            await stub.ListSessions(pb.ListSessionsRequest(), metadata=metadata),
            await stub.ChangePassword(
                pb.ChangePasswordRequest(current_password=PASSWORD, new_password=NEW_PASSWORD),
                metadata=metadata,
            ),
            await stub.LogoutOthers(pb.LogoutOthersRequest(), metadata=metadata),
            await stub.Logout(pb.LogoutRequest(), metadata=metadata),
        ]
    password_hash = await application.pool.fetchval(
        "SELECT password_hash FROM users WHERE email = $1", email
    )
    assert password_hash.startswith("$argon2id$")
    wire = b"".join(response.SerializeToString() for response in responses)
    events = await stream_events(redis, event_streams(settings).unpartitioned)
    stored = "".join(str(encode_event(event)) for event in events)
    for secret in (PASSWORD, NEW_PASSWORD, password_hash, session_id):
        assert secret.encode() not in wire
        assert secret not in captured.text
        assert secret not in stored
    # Not even the digest under which Redis keeps the session.
    digest = hashlib.sha256(session_id.encode()).hexdigest()
    assert digest not in stored and digest.encode() not in wire
    # The workload was logged at all, so the check above looked at something.
    assert "rpc finished" in captured.text
