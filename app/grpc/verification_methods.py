"""Email verification's RPCs, a part of ``UserServiceServicer``: protobuf in and out only."""

from __future__ import annotations

from app.domain.clients import Client
from app.domain.passwords import PasswordPolicy
from app.domain.second_factor import parse_step_up_code
from app.domain.verification import parse_new_email, parse_verification_token
from app.grpc.context import Context
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.user_messages import user_message
from app.usecases.sessions import SessionUseCase
from app.usecases.verification import VerificationUseCase


class VerificationMethods:
    """VerifyEmail, ResendVerification and ChangeEmail."""

    _sessions: SessionUseCase
    _verification: VerificationUseCase
    _password_policy: PasswordPolicy

    def _session_id(self, context: Context) -> str | None:
        raise NotImplementedError

    def _client(self, context: Context) -> Client:
        raise NotImplementedError

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: Context
    ) -> pb.VerifyEmailResponse:
        # No session: the link may be opened anywhere; the token is the proof.
        user = await self._verification.verify(parse_verification_token(request.token))
        return pb.VerifyEmailResponse(user=user_message(user))

    async def ResendVerification(
        self, request: pb.ResendVerificationRequest, context: Context
    ) -> pb.ResendVerificationResponse:
        caller = await self._sessions.caller(self._session_id(context))
        await self._verification.resend(caller, self._client(context))
        return pb.ResendVerificationResponse()

    async def ChangeEmail(
        self, request: pb.ChangeEmailRequest, context: Context
    ) -> pb.ChangeEmailResponse:
        caller = await self._sessions.caller(self._session_id(context))
        current_password = self._password_policy.offered(request.current_password)
        address = parse_new_email(request.new_email)
        code = parse_step_up_code(request.totp_code)
        await self._verification.change_email(
            caller, current_password, address, self._client(context), code
        )
        return pb.ChangeEmailResponse()
