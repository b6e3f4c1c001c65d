"""The second factor's RPCs, a part of ``UserServiceServicer``: protobuf in and out only."""

from __future__ import annotations

import io

import segno

from app.domain.clients import Client
from app.domain.errors import InvalidInput
from app.domain.passwords import PasswordPolicy
from app.domain.second_factor import parse_code, parse_totp_code
from app.domain.users import parse_user_id
from app.grpc.context import Context
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.user_messages import user_message
from app.usecases.accounts import AccountUseCase
from app.usecases.login_completion import LoginCompletion
from app.usecases.second_factor import SecondFactorUseCase
from app.usecases.sessions import SessionUseCase

# Tickets are 32 random bytes in URL-safe base64 (43 characters); anything far
# longer is not one.
MAX_TICKET_LENGTH = 128


def qr_png(uri: str) -> bytes:
    """A QR code of ``uri`` as a PNG a product can show as is (segno, no I/O)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=5, border=4)
    return buffer.getvalue()


def parse_ticket(raw: str) -> str:
    ticket = raw.strip()
    if not ticket or len(ticket) > MAX_TICKET_LENGTH or not ticket.isascii():
        raise InvalidInput("mfa_ticket", "must be the ticket Login returned")
    return ticket


class SecondFactorMethods:
    """EnrollTotp, ConfirmTotp, RegenerateRecoveryCodes, DisableTotp, CompleteLogin and
    ResetUserMfa."""

    _sessions: SessionUseCase
    _accounts: AccountUseCase
    _second_factor: SecondFactorUseCase
    _login_completion: LoginCompletion
    _password_policy: PasswordPolicy

    def _session_id(self, context: Context) -> str | None:
        raise NotImplementedError

    def _client(self, context: Context) -> Client:
        raise NotImplementedError

    async def EnrollTotp(
        self, request: pb.EnrollTotpRequest, context: Context
    ) -> pb.EnrollTotpResponse:
        caller = await self._sessions.caller(self._session_id(context))
        enrollment = await self._second_factor.enroll(caller)
        return pb.EnrollTotpResponse(
            secret=enrollment.secret,
            otpauth_uri=enrollment.otpauth_uri,
            qr_png=qr_png(enrollment.otpauth_uri),
        )

    async def ConfirmTotp(
        self, request: pb.ConfirmTotpRequest, context: Context
    ) -> pb.ConfirmTotpResponse:
        caller = await self._sessions.caller(self._session_id(context))
        code = parse_totp_code(request.code)
        codes = await self._second_factor.confirm(caller, code, self._client(context))
        return pb.ConfirmTotpResponse(recovery_codes=codes)

    async def RegenerateRecoveryCodes(
        self, request: pb.RegenerateRecoveryCodesRequest, context: Context
    ) -> pb.RegenerateRecoveryCodesResponse:
        caller = await self._sessions.caller(self._session_id(context))
        code = parse_totp_code(request.code)
        client = self._client(context)
        codes = await self._second_factor.regenerate_recovery_codes(caller, code, client)
        return pb.RegenerateRecoveryCodesResponse(recovery_codes=codes)

    async def DisableTotp(
        self, request: pb.DisableTotpRequest, context: Context
    ) -> pb.DisableTotpResponse:
        caller = await self._sessions.caller(self._session_id(context))
        current = self._password_policy.offered(request.current_password)
        code = parse_totp_code(request.code)
        await self._second_factor.disable(caller, current, code, self._client(context))
        return pb.DisableTotpResponse()

    async def CompleteLogin(
        self, request: pb.CompleteLoginRequest, context: Context
    ) -> pb.CompleteLoginResponse:
        ticket = parse_ticket(request.mfa_ticket)
        code = parse_code(request.code)
        logged_in = await self._login_completion.complete(ticket, code, self._client(context))
        return pb.CompleteLoginResponse(
            user=user_message(logged_in.session.user),
            session_id=logged_in.session.id,
            device_token=logged_in.device_token,
        )

    async def ResetUserMfa(
        self, request: pb.ResetUserMfaRequest, context: Context
    ) -> pb.ResetUserMfaResponse:
        user_id = parse_user_id(request.uuid)
        caller = await self._sessions.caller(self._session_id(context))
        ended = await self._accounts.reset_second_factor(caller, user_id, self._client(context))
        return pb.ResetUserMfaResponse(ended=ended)
