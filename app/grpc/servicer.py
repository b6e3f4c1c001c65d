"""UserServiceServicer: protobuf in, use cases, protobuf out. No business rules here.

Every request is parsed here, once, into domain values (by the domain's
constructors, which raise ``InvalidInput``); the use cases never see a raw
string. Each method keeps the order of its checks: where a session is
required before a field is read, an unauthenticated caller learns nothing of
the field.
"""

from __future__ import annotations

from app.domain.clients import Client
from app.domain.listing import PageSizes, parse_page_token
from app.domain.passwords import PasswordPolicy, strength_context
from app.domain.profiles import ProfileChanges, parse_profile_changes
from app.domain.second_factor import parse_step_up_code
from app.domain.sessions import parse_handle
from app.domain.throttling import parse_throttle_target
from app.domain.users import (
    AVATAR_SCHEMES,
    normalise_email,
    parse_login,
    parse_registration,
    parse_role_assignment,
    parse_user_id,
)
from app.grpc.context import Context
from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.grpc.listing_messages import user_filter_of
from app.grpc.metadata import ClientReader, device_token_from, session_id_from
from app.grpc.recovery_methods import RecoveryMethods
from app.grpc.second_factor_methods import SecondFactorMethods
from app.grpc.user_messages import session_message, user_message
from app.grpc.verification_methods import VerificationMethods
from app.usecases.accounts import AccountUseCase
from app.usecases.listing import ListingUseCase
from app.usecases.login_completion import LoginCompletion
from app.usecases.profiles import ProfileUseCase
from app.usecases.recovery import RecoveryUseCase
from app.usecases.second_factor import SecondFactorUseCase
from app.usecases.sessions import SessionUseCase
from app.usecases.throttling import ThrottleUseCase
from app.usecases.users import SecondFactorPending, UserUseCase
from app.usecases.verification import VerificationUseCase


class UserServiceServicer(
    SecondFactorMethods, RecoveryMethods, VerificationMethods, pb_grpc.UserServiceServicer
):
    def __init__(
        self,
        users: UserUseCase,
        sessions: SessionUseCase,
        accounts: AccountUseCase,
        throttling: ThrottleUseCase,
        *,
        profiles: ProfileUseCase,
        password_policy: PasswordPolicy,
        clients: ClientReader | None = None,
        listing: ListingUseCase,
        page_sizes: PageSizes,
        second_factor: SecondFactorUseCase,
        login_completion: LoginCompletion,
        avatar_schemes: frozenset[str] = AVATAR_SCHEMES,
        recovery: RecoveryUseCase,
        verification: VerificationUseCase,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._accounts = accounts
        self._throttling = throttling
        self._profiles = profiles
        self._password_policy = password_policy
        self._clients = clients or ClientReader()
        self._listing = listing
        self._page_sizes = page_sizes
        self._second_factor = second_factor
        self._login_completion = login_completion
        self._avatar_schemes = avatar_schemes
        self._recovery = recovery
        self._verification = verification

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        registration = parse_registration(
            email=request.email,
            first_name=request.first_name,
            last_name=request.last_name,
            password=request.password,
            role=request.role,
            avatar=request.avatar,
            policy=self._password_policy,
            avatar_schemes=self._avatar_schemes,
        )
        await self._password_policy.require_strong(
            registration.password,
            field="password",
            context=strength_context(
                registration.email, registration.first_name, registration.last_name
            ),
        )
        caller = await self._sessions.optional_caller(self._session_id(context))
        user = await self._users.register(registration, caller, self._client(context))
        return pb.RegisterResponse(user=user_message(user))

    async def FindByEmail(
        self, request: pb.FindByEmailRequest, context: Context
    ) -> pb.FindByEmailResponse:
        caller = await self._sessions.caller(self._session_id(context))
        user = await self._users.find_by_email(normalise_email(request.email), caller)
        return pb.FindByEmailResponse(user=user_message(user))

    async def FindByID(self, request: pb.FindByIDRequest, context: Context) -> pb.FindByIDResponse:
        caller = await self._sessions.caller(self._session_id(context))
        user = await self._users.find_by_id(parse_user_id(request.uuid), caller)
        return pb.FindByIDResponse(user=user_message(user))

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        attempt = parse_login(request.email, request.password, self._password_policy)
        metadata = context.invocation_metadata()
        logged_in = await self._users.login_or_ticket(
            attempt,
            self._client(context),
            device_token=device_token_from(metadata),
            second_factor_supported=request.second_factor_supported,
        )
        if isinstance(logged_in, SecondFactorPending):
            return pb.LoginResponse(
                user=user_message(logged_in.user),
                second_factor_required=True,
                mfa_ticket=logged_in.ticket,
            )
        session = logged_in.session
        return pb.LoginResponse(
            user=user_message(session.user),
            session_id=session.id,
            device_token=logged_in.device_token,
        )

    async def GetMe(self, request: pb.GetMeRequest, context: Context) -> pb.GetMeResponse:
        user = await self._sessions.authenticate(self._session_id(context))
        return pb.GetMeResponse(user=user_message(user))

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> pb.LogoutResponse:
        await self._sessions.logout(self._session_id(context), self._client(context))
        return pb.LogoutResponse()

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        records = await self._sessions.list_sessions(self._session_id(context))
        return pb.ListSessionsResponse(sessions=[session_message(r) for r in records])

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: Context
    ) -> pb.RevokeSessionResponse:
        session_id = self._session_id(context)
        handle = parse_handle(request.handle)
        await self._sessions.revoke_session(session_id, handle, self._client(context))
        return pb.RevokeSessionResponse()

    async def LogoutOthers(
        self, request: pb.LogoutOthersRequest, context: Context
    ) -> pb.LogoutOthersResponse:
        ended = await self._sessions.logout_others(self._session_id(context), self._client(context))
        return pb.LogoutOthersResponse(ended=ended)

    async def LogoutAll(
        self, request: pb.LogoutAllRequest, context: Context
    ) -> pb.LogoutAllResponse:
        ended = await self._sessions.logout_all(self._session_id(context), self._client(context))
        return pb.LogoutAllResponse(ended=ended)

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: Context
    ) -> pb.ChangePasswordResponse:
        new_password = self._password_policy.new_password(request.new_password)
        current_password = self._password_policy.offered(request.current_password)
        session_id = self._session_id(context)
        caller = await self._sessions.caller(session_id)
        assert session_id is not None
        user = caller.user
        await self._password_policy.require_strong(
            new_password,
            field="new_password",
            context=strength_context(user.email, user.first_name, user.last_name),
        )
        code = parse_step_up_code(request.totp_code)
        await self._accounts.change_password(
            caller, session_id, current_password, new_password, self._client(context), code
        )
        return pb.ChangePasswordResponse()

    async def SetUserRole(
        self, request: pb.SetUserRoleRequest, context: Context
    ) -> pb.SetUserRoleResponse:
        user_id, role = parse_role_assignment(request.uuid, request.role)
        caller = await self._sessions.caller(self._session_id(context))
        user = await self._accounts.set_role(caller, user_id, role, self._client(context))
        return pb.SetUserRoleResponse(user=user_message(user))

    async def DisableUser(
        self, request: pb.DisableUserRequest, context: Context
    ) -> pb.DisableUserResponse:
        user_id = parse_user_id(request.uuid)
        caller = await self._sessions.caller(self._session_id(context))
        user = await self._accounts.disable(caller, user_id, self._client(context))
        return pb.DisableUserResponse(user=user_message(user))

    async def EnableUser(
        self, request: pb.EnableUserRequest, context: Context
    ) -> pb.EnableUserResponse:
        user_id = parse_user_id(request.uuid)
        caller = await self._sessions.caller(self._session_id(context))
        user = await self._accounts.enable(caller, user_id, self._client(context))
        return pb.EnableUserResponse(user=user_message(user))

    async def RevokeUserSessions(
        self, request: pb.RevokeUserSessionsRequest, context: Context
    ) -> pb.RevokeUserSessionsResponse:
        user_id = parse_user_id(request.uuid)
        caller = await self._sessions.caller(self._session_id(context))
        ended = await self._accounts.revoke_user_sessions(caller, user_id, self._client(context))
        return pb.RevokeUserSessionsResponse(ended=ended)

    async def ClearLoginThrottle(
        self, request: pb.ClearLoginThrottleRequest, context: Context
    ) -> pb.ClearLoginThrottleResponse:
        caller = await self._sessions.caller(self._session_id(context))
        target = parse_throttle_target(request.email, request.address)
        cleared = await self._throttling.clear_as(caller, target)
        return pb.ClearLoginThrottleResponse(cleared=cleared)

    async def ListUsers(
        self, request: pb.ListUsersRequest, context: Context
    ) -> pb.ListUsersResponse:
        user_filter = user_filter_of(request)
        page_size = self._page_sizes.size_of(request.page_size)
        token = parse_page_token(request.page_token)
        caller = await self._sessions.caller(self._session_id(context))
        page = await self._listing.list_users(caller, user_filter, page_size, token)
        return pb.ListUsersResponse(
            users=[
                pb.ListedUser(user=user_message(listed.user), status=listed.status.value)
                for listed in page.users
            ],
            next_page_token=page.next_page_token,
        )

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: Context
    ) -> pb.UpdateProfileResponse:
        caller = await self._sessions.caller(self._session_id(context))
        changes = _profile_changes(request, self._avatar_schemes)
        named = parse_user_id(request.user.uuid, "user.uuid") if request.user.uuid else None
        client = self._client(context)
        user = await self._profiles.update_profile(caller, changes, client, named=named)
        return pb.UpdateProfileResponse(user=user_message(user))

    async def UpdateUser(
        self, request: pb.UpdateUserRequest, context: Context
    ) -> pb.UpdateUserResponse:
        user_id = parse_user_id(request.user.uuid, "user.uuid")
        changes = _profile_changes(request, self._avatar_schemes)
        caller = await self._sessions.caller(self._session_id(context))
        client = self._client(context)
        user = await self._profiles.update_user(caller, user_id, changes, client)
        return pb.UpdateUserResponse(user=user_message(user))

    async def DeleteAccount(
        self, request: pb.DeleteAccountRequest, context: Context
    ) -> pb.DeleteAccountResponse:
        current_password = self._password_policy.offered(request.current_password)
        code = parse_step_up_code(request.totp_code)
        caller = await self._sessions.caller(self._session_id(context))
        await self._profiles.delete_account(caller, current_password, self._client(context), code)
        return pb.DeleteAccountResponse()

    async def DeleteUser(
        self, request: pb.DeleteUserRequest, context: Context
    ) -> pb.DeleteUserResponse:
        user_id = parse_user_id(request.uuid)
        caller = await self._sessions.caller(self._session_id(context))
        await self._profiles.delete_user(caller, user_id, self._client(context))
        return pb.DeleteUserResponse()

    def _session_id(self, context: Context) -> str | None:
        return session_id_from(context.invocation_metadata())

    def _client(self, context: Context) -> Client:
        return self._clients(context.invocation_metadata(), context.peer())


def _profile_changes(
    request: pb.UpdateProfileRequest | pb.UpdateUserRequest, avatar_schemes: frozenset[str]
) -> ProfileChanges:
    """The changes an update asks for (AIP-134, see ``parse_profile_changes``)."""
    user = request.user
    requested = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "avatar": user.avatar,
        "email": user.email,
        "role": user.role,
    }
    return parse_profile_changes(
        requested, list(request.update_mask.paths), avatar_schemes=avatar_schemes
    )
