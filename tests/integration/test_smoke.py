from app.grpc.generated import user_service_pb2 as pb
from tests.client import registered_session, session_metadata


async def test_a_logged_in_user_can_read_themselves(stub):
    user, session_id = await registered_session(stub)
    me = await stub.GetMe(pb.GetMeRequest(), metadata=session_metadata(session_id))
    assert me.user.uuid == user.uuid
