"""Recovery's RPCs, a part of ``UserServiceServicer``: protobuf in and out only."""

from __future__ import annotations

from app.domain.clients import Client
from app.domain.passwords import PasswordPolicy
from app.domain.recovery import parse_reset_token
from app.domain.second_factor import parse_step_up_code
from app.domain.users import normalise_email
from app.grpc.context import Context
from app.grpc.generated import user_service_pb2 as pb
from app.usecases.recovery import RecoveryUseCase


class RecoveryMethods:
    """RequestPasswordReset and ResetPassword: no session; the link's token is the proof."""

    _recovery: RecoveryUseCase
    _password_policy: PasswordPolicy

    def _client(self, context: Context) -> Client:
        raise NotImplementedError

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: Context
    ) -> pb.RequestPasswordResetResponse:
        email = normalise_email(request.email)
        await self._recovery.request_reset(email, self._client(context))
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: Context
    ) -> pb.ResetPasswordResponse:
        token = parse_reset_token(request.token)
        new_password = self._password_policy.new_password(request.new_password)
        code = parse_step_up_code(request.totp_code)
        ended = await self._recovery.reset_password(
            token, new_password, self._client(context), code
        )
        return pb.ResetPasswordResponse(ended=ended)
