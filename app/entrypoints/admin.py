"""``python -m app admin create --email …`` (``make admin``): the first admin, without SQL;
``python -m app admin clear-throttle --email E | --address A``: lift a login throttle.

``admin create`` makes the user with that email an admin, through the same
use cases as the RPCs: it promotes an existing user, or registers a new
admin with a password read from a prompt (when stdin is a terminal) or from
the first line of stdin — never from the command line, where ``ps`` and shell
history would show it. An existing user keeps their password: no prompt asks
for one, and a password piped in for them is refused (nothing changes), since
the operator evidently expected a new account with it. It prints one line
and exits 0 on success, 1 when the input is refused, 2 on a usage or
settings error, 69 when PostgreSQL or Redis does not answer.

``admin clear-throttle`` forgets the failures and successful-login rates of
an account, an address (an IPv6 address stands for its /64), or both, and
prints how many counters it removed. Accounts are named in Redis by a keyed
hash, under the same key as the service's (the configured secret, or the one
stored in PostgreSQL).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

import asyncpg

from app.bootstrap import (
    build_ports,
    build_use_cases,
    migrate_if_asked,
    open_resources,
    password_policy,
)
from app.config import ConfigError, Settings, load_settings
from app.domain.errors import DomainError, EmailTaken, InvalidInput, StoreUnavailable
from app.domain.passwords import strength_context
from app.domain.throttling import parse_throttle_target
from app.domain.users import Email, Registration, normalise_email, parse_registration
from app.observability.setup.logging import configure_logging
from app.observability.setup.providers import run_then_stop_telemetry

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE

PROGRAM = "python -m app"


class AdminRefused(Exception):
    """``admin create`` cannot do what was asked; the message says what to do instead."""


def prompt_password() -> str:
    """The new admin's password, typed twice at a terminal."""
    first = getpass.getpass("Password for the new admin: ")
    if getpass.getpass("Repeat it: ") != first:
        raise InvalidInput("password", "the two entries differ")
    return first


def piped_password(stdin: TextIO) -> str | None:
    """The first line of a piped ``stdin``, without its newline; None at a terminal."""
    return None if stdin.isatty() else stdin.readline().rstrip("\r\n")


async def create_admin(
    settings: Settings,
    email: str,
    first_name: str,
    last_name: str,
    piped: str | None,
    prompt: Callable[[], str] = prompt_password,
) -> str:
    """Promote the user with ``email``, or register them as an admin; the line to print.

    ``piped`` is the password given on stdin (None at a terminal, where
    ``prompt`` asks for it only when the user is new). Raises
    :class:`AdminRefused` for a piped password of an existing user, and for
    a new user without one.
    """
    address = normalise_email(email)
    await migrate_if_asked(settings)
    async with open_resources(settings) as resources:
        accounts = build_use_cases(build_ports(settings, resources)).accounts
        if piped:
            try:
                created = await accounts.create_admin(
                    await _registration(settings, address, first_name, last_name, piped)
                )
            except EmailTaken:
                raise AdminRefused(
                    f"{address} already has an account, whose password admin create never"
                    " changes; nothing was changed. To make it an admin, pipe no password"
                ) from None
            return f"created admin {address} (user {created.id})"
        promoted = await accounts.promote_to_admin(address)
        if promoted is not None:
            return f"{address} is an admin (user {promoted.id})"
        if piped is not None:
            raise AdminRefused(f"no user has {address}: pipe the new admin's password on stdin")
        registration = await _registration(settings, address, first_name, last_name, prompt())
        created = await accounts.create_admin(registration)
        return f"created admin {address} (user {created.id})"


async def _registration(
    settings: Settings, address: Email, first_name: str, last_name: str, password: str
) -> Registration:
    """The new admin's registration, its password held to the service's policy."""
    policy = password_policy(settings)
    registration = parse_registration(
        email=address,
        first_name=first_name,
        last_name=last_name,
        password=password,
        role="",
        avatar="",
        policy=policy,
    )
    await policy.require_strong(
        registration.password,
        field="password",
        context=strength_context(address, registration.first_name, registration.last_name),
    )
    return registration


async def clear_throttle(settings: Settings, email: str, address: str) -> str:
    """Clear the login throttle of ``email`` and/or ``address``; the line to print."""
    target = parse_throttle_target(email, address)
    async with open_resources(settings) as resources:
        throttling = build_use_cases(build_ports(settings, resources)).throttling
        cleared = await throttling.clear(target)
    return f"cleared {cleared} login throttle counter(s)"


def _action(
    arguments: argparse.Namespace, settings: Settings, stdin: TextIO
) -> Coroutine[Any, Any, str]:
    if arguments.action == "clear-throttle":
        return clear_throttle(settings, arguments.email, arguments.address)
    return create_admin(
        settings,
        arguments.email,
        arguments.first_name,
        arguments.last_name,
        piped_password(stdin),
    )


def run(arguments: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    """``admin create`` or ``admin clear-throttle`` with the parsed ``arguments``."""
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging("WARNING", settings.logging.format)
    try:
        message = run_then_stop_telemetry(_action(arguments, settings, stdin))
    except ConfigError as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except AdminRefused as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except StoreUnavailable as err:
        print(f"{PROGRAM}: {err.public_message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except DomainError as err:
        print(f"{PROGRAM}: {err.public_message}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, asyncpg.PostgresError) as err:
        print(f"{PROGRAM}: cannot reach the stores: {type(err).__name__}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(message)
    return EXIT_OK
