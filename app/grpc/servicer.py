"""UserServiceServicer: protobuf in, use cases, protobuf out. No business rules here."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from app.domain.clients import Client
from app.domain.users import User, parse_registration
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.interceptors import Context
from app.grpc.metadata import Network, client_from, session_id_from
from app.usecases.sessions import SessionUseCase
from app.usecases.users import UserUseCase


def _timestamp(value: object) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)  # type: ignore[arg-type]
    return stamp


def user_message(user: User) -> pb.User:
    """The wire form of a user; field 5 (the old password) is reserved, never set."""
    return pb.User(
        uuid=str(user.id),
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        role=user.role.value,
        avatar=user.avatar or "",
        created_at=_timestamp(user.created_at),
        updated_at=_timestamp(user.updated_at),
    )


class UserServiceServicer(pb_grpc.UserServiceServicer):
    def __init__(
        self,
        users: UserUseCase,
        sessions: SessionUseCase,
        *,
        password_min_length: int,
        password_max_length: int,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._password_min_length = password_min_length
        self._password_max_length = password_max_length
        self._trusted_proxies = trusted_proxies

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        registration = parse_registration(
            email=request.email,
            first_name=request.first_name,
            last_name=request.last_name,
            password=request.password,
            role=request.role,
            avatar=request.avatar,
            password_min_length=self._password_min_length,
            password_max_length=self._password_max_length,
        )
        caller = await self._sessions.optional_caller(self._session_id(context))
        user = await self._users.register(registration, caller, self._client(context))
        return pb.RegisterResponse(user=user_message(user))

    async def FindByEmail(
        self, request: pb.FindByEmailRequest, context: Context
    ) -> pb.FindByEmailResponse:
        await self._sessions.authenticate(self._session_id(context))
        user = await self._users.find_by_email(request.email)
        return pb.FindByEmailResponse(user=user_message(user))

    async def FindByID(self, request: pb.FindByIDRequest, context: Context) -> pb.FindByIDResponse:
        await self._sessions.authenticate(self._session_id(context))
        user = await self._users.find_by_id(request.uuid)
        return pb.FindByIDResponse(user=user_message(user))

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        session = await self._users.login(request.email, request.password, self._client(context))
        return pb.LoginResponse(user=user_message(session.user), session_id=session.id)

    async def GetMe(self, request: pb.GetMeRequest, context: Context) -> pb.GetMeResponse:
        user = await self._sessions.authenticate(self._session_id(context))
        return pb.GetMeResponse(user=user_message(user))

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> pb.LogoutResponse:
        await self._sessions.logout(self._session_id(context))
        return pb.LogoutResponse()

    @staticmethod
    def _session_id(context: Context) -> str | None:
        return session_id_from(context.invocation_metadata())

    def _client(self, context: Context) -> Client:
        return client_from(context.invocation_metadata(), context.peer(), self._trusted_proxies)
