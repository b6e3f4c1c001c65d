"""Lockouts that spare the owner, on the real service: device tokens, shared
addresses, and clearing a throttle by RPC and by command.

Client addresses come through ``x-forwarded-for`` (127.0.0.1 is a trusted proxy).
"""

from __future__ import annotations

import grpc

from app.grpc.generated import user_service_pb2 as pb
from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from tests.support.application import use_cases_of
from tests.support.client import PASSWORD, admin_session, session_metadata, unique_email
from tests.support.commands import run_command
from tests.support.throttling import (
    EXHAUSTED,
    SMALL,
    UNAUTHENTICATED,
    WRONG,
    address,
    from_address,
    instance,
    registered,
)


async def login(
    stub: pb_grpc.UserServiceAsyncStub, email: str, password: str, client: str, token: str = ""
) -> tuple[grpc.StatusCode, str]:
    """The status of a Login from ``client`` (with ``token`` as device-token), and its token."""
    metadata = from_address(client) + ((("device-token", token),) if token else ())
    try:
        answer = await stub.Login(
            pb.LoginRequest(email=email, password=password), metadata=metadata
        )
    except grpc.aio.AioRpcError as err:
        return err.code(), ""
    return grpc.StatusCode.OK, answer.device_token


async def test_a_shared_address_in_back_off_lets_in_the_owner_with_a_device_token(application):
    async with instance(SMALL) as service:
        email, shared = await registered(service.stub), address()
        status, token = await login(service.stub, email, PASSWORD, address())
        assert status is grpc.StatusCode.OK and token
        # Others behind the same address fail until the address must wait.
        guesses = [await login(service.stub, unique_email(), WRONG, shared) for _ in range(4)]
        assert [code for code, _ in guesses] == [UNAUTHENTICATED] * 3 + [EXHAUSTED]

        without, _ = await login(service.stub, email, PASSWORD, shared)
        with_token, _ = await login(service.stub, email, PASSWORD, shared, token)
        guesser, _ = await login(service.stub, unique_email(), WRONG, shared)
        assert [without, with_token, guesser] == [EXHAUSTED, grpc.StatusCode.OK, EXHAUSTED]


async def test_the_owner_gets_in_from_a_new_address_while_guessers_wait(application):
    async with instance(SMALL) as service:
        email = await registered(service.stub)
        _, token = await login(service.stub, email, PASSWORD, address())
        guesses = [await login(service.stub, email, WRONG, address()) for _ in range(4)]
        assert [code for code, _ in guesses] == [UNAUTHENTICATED] * 3 + [EXHAUSTED]

        without, _ = await login(service.stub, email, PASSWORD, address())
        with_token, _ = await login(service.stub, email, PASSWORD, address(), token)
        assert [without, with_token] == [EXHAUSTED, grpc.StatusCode.OK]


async def test_a_stolen_token_gives_no_more_guesses_than_the_account_has(application):
    async with instance(SMALL) as service:
        email = await registered(service.stub)
        _, token = await login(service.stub, email, PASSWORD, address())
        other = await registered(service.stub)
        _, others_token = await login(service.stub, other, PASSWORD, address())
        # Another account's token exempts nothing; this account's, its free failures.
        answers = [await login(service.stub, email, WRONG, address(), others_token)]
        answers += [await login(service.stub, email, WRONG, address(), token) for _ in range(6)]
        assert [code for code, _ in answers] == [UNAUTHENTICATED] * 4 + [EXHAUSTED] * 3


async def test_an_admin_clears_an_account_and_an_address(application):
    async with instance(SMALL) as service:
        email, client = await registered(service.stub), address()
        for _ in range(3):
            await login(service.stub, email, WRONG, client)
        assert (await login(service.stub, email, PASSWORD, client))[0] is EXHAUSTED
        request = pb.ClearLoginThrottleRequest(email=email.upper(), address=client)
        # From an address of its own: 127.0.0.1 may be in back-off from other tests.
        accounts = use_cases_of(service.application).accounts
        _, user_session = await admin_session(service.stub, accounts, from_address(address()))
        try:
            await service.stub.ClearLoginThrottle(request, metadata=session_metadata(user_session))
        except grpc.aio.AioRpcError as err:
            raise AssertionError("an admin was refused") from err
        assert (await login(service.stub, email, PASSWORD, client))[0] is grpc.StatusCode.OK


async def test_clearing_needs_an_admin_and_a_target(application):
    async with instance(SMALL) as service:
        _, token = await login(service.stub, await registered(service.stub), PASSWORD, address())
        del token
        accounts = use_cases_of(service.application).accounts
        _, admin = await admin_session(service.stub, accounts, from_address(address()))
        refusals = []
        for request, metadata in (
            (pb.ClearLoginThrottleRequest(address="198.18.0.1"), ()),
            (pb.ClearLoginThrottleRequest(), session_metadata(admin)),
            (pb.ClearLoginThrottleRequest(address="not an address"), session_metadata(admin)),
        ):
            try:
                await service.stub.ClearLoginThrottle(request, metadata=metadata)
            except grpc.aio.AioRpcError as err:
                refusals.append(err.code())
        assert refusals == [UNAUTHENTICATED] + [grpc.StatusCode.INVALID_ARGUMENT] * 2


async def test_the_command_clears_an_address(application, settings):
    async with instance(SMALL) as service:
        client = address()
        for _ in range(3):
            await login(service.stub, unique_email(), WRONG, client)
        email = await registered(service.stub)
        assert (await login(service.stub, email, PASSWORD, client))[0] is EXHAUSTED
        status, out, err = await run_command(
            settings,
            "admin",
            "clear-throttle",
            "--address",
            client,
        )
        assert (status, err, out) == (0, "", "cleared 1 login throttle counter(s)\n")
        assert (await login(service.stub, email, PASSWORD, client))[0] is grpc.StatusCode.OK


async def test_the_command_clears_an_account_by_any_spelling_of_its_email(application, settings):
    # No secret configured: the service and the command read the one stored in PostgreSQL.
    async with instance(SMALL) as service:
        email = await registered(service.stub)
        for _ in range(3):
            await login(service.stub, email, WRONG, address())
        assert (await login(service.stub, email, PASSWORD, address()))[0] is EXHAUSTED
        status, out, err = await run_command(
            settings, "admin", "clear-throttle", "--email", email.upper()
        )
        assert (status, err) == (0, ""), out
        assert (await login(service.stub, email, PASSWORD, address()))[0] is grpc.StatusCode.OK
