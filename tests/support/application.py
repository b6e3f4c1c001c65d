"""The suite's applications: this run's settings, and extra applications on its stores.

Every run works in ``user_service_test_<RUN_ID>`` and under ``test:<RUN_ID>:``
(see ``tests.support.isolation``); the session fixtures in ``conftest.py``
create and remove both.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.bootstrap import UseCases, build_application, build_ports, build_use_cases
from app.config import Settings
from app.lifecycle import Application
from tests.support.isolation import isolated_settings
from tests.support.passwords import cheap_passwords_for
from tests.support.processes import SUITE_ADDRESS_LIMITS, SUITE_MFA

RUN_ID = uuid.uuid4().hex[:12]

ApplicationFactory = Callable[..., Awaitable[Application]]


def make_settings(**sections: dict[str, Any]) -> Settings:
    """Settings for a test application: this run's database and key prefix, port 0.

    Keyword arguments override whole sections' fields, e.g.
    ``make_settings(sessions={"ttl_seconds": 1})``.
    """
    suite: dict[str, dict[str, Any]] = {
        "logging": {"format": "json", "level": "INFO"},
        # Probes often, but a probe fails only when a store does not answer for
        # seconds: the suite's many applications share one event loop and the
        # shared servers, and a stall of half a second on a loaded machine is not
        # an outage (a failed probe makes every call fail fast for a second).
        # The outage tests set their own (tests.support.outages).
        "health": {"check_interval_seconds": 0.2, "check_timeout_seconds": 3.0},
        "throttling": SUITE_ADDRESS_LIMITS,
        "mfa": SUITE_MFA,
        # Many tests ask from one address; recovery's own throttling tests set theirs.
        "recovery": {
            "requests_per_address_per_minute": 1_000_000,
            "requests_per_account_per_minute": 1_000_000,
            "guesses_per_address_per_minute": 1_000_000,
        },
    }
    return isolated_settings("test", RUN_ID, **{**suite, **sections})


async def build_test_application(settings: Settings, *, cheap: bool = True) -> Application:
    """The service through the composition root, hashing at argon2's least cost when ``cheap``.

    Most tests are not about hashing; those that are set the ``passwords``
    section (``make_application(passwords=…)``), which keeps the real hasher,
    or build their own (counting, slowed down).
    """
    return await build_application(
        settings, passwords=cheap_passwords_for(settings) if cheap else None
    )


def use_cases_of(application: Application) -> UseCases:
    """Use cases over ``application``'s own stores, composed as its servicer's were.

    For tests that act as the operator (make an admin) or reach behind the
    edge: the same ports, so what they write the service sees.
    """
    return build_use_cases(build_ports(application.settings, application.resources))


@contextlib.asynccontextmanager
async def running_application(**sections: dict[str, Any]) -> AsyncIterator[Application]:
    """An extra application on this run's stores, stopped when the block ends.

    For fixtures of any scope (request ``application`` too, so the run's stores
    outlive it). Stop it in the scope that started it: an aio server left
    running while the event loop sits idle between tests can hang in ``stop``.
    """
    extra = await build_test_application(
        make_settings(**sections), cheap="passwords" not in sections
    )
    await extra.start()
    try:
        yield extra
    finally:
        await extra.stop(grace=0.5)
