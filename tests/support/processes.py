"""Running the service's processes as `make run` does, for tests that signal them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from app.config import Settings
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

# Every test calls from 127.0.0.1 under the run's key prefix: per-address
# limits sized for the whole suite (tests that test throttling set their own).
SUITE_ADDRESS_LIMITS = {
    "address_free_failures": 1_000_000,
    "register_per_address_per_minute": 1_000_000,
    "change_password_per_address_per_minute": 1_000_000,
    "successful_logins_per_address_per_minute": 1_000_000,
    "successful_logins_per_account_per_minute": 1_000_000,
}


# Every test application seals TOTP secrets under this key: one that starts
# without a key refuses to, once any test has enrolled a user in the run's database.
SUITE_MFA_KEY = base64.b64encode(hashlib.sha256(b"suite mfa key").digest()).decode()
# The suite's admins (``admin_session``) do not enrol: logging in through a ticket in
# every admin test would double their calls. The policy has its own tests
# (test_second_factor_policy.py), which turn it on.
SUITE_MFA: dict[str, Any] = {"encryption_keys": {"suite": SUITE_MFA_KEY}, "required_roles": []}


# Every process of the run seals TOTP secrets under the suite's key: a process
# without it refuses to start once a test has enrolled a user in the run's database.
SUITE_MFA_ENVIRONMENT = {
    "APP_MFA__ENCRYPTION_KEYS": json.dumps(SUITE_MFA["encryption_keys"]),
    "APP_MFA__REQUIRED_ROLES": json.dumps(SUITE_MFA["required_roles"]),
}


def process_environment(settings: Settings, **variables: str) -> dict[str, str]:
    """This run's stores, gRPC on a free loopback port, JSON logs, the suite's
    per-address limits and shares; then ``variables``."""
    return {
        **os.environ,
        "APP_CONFIG_FILE": str(ROOT / "config" / "local.yaml"),
        "APP_GRPC__HOST": "127.0.0.1",
        "APP_GRPC__PORT": str(free_port()),
        "APP_HTTP__PORT": str(free_port()),
        "APP_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
        "APP_POSTGRES__CREATE_DATABASE": "true",
        "APP_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "APP_EVENTS__RELAY_ENABLED": "false",
        "APP_MAIL__COURIER_ENABLED": "false",
        "APP_LOGGING__FORMAT": "json",
        # One client (127.0.0.1) may take a method's whole limit and hashing queue.
        "APP_GRPC__METHOD_CONCURRENCY_CLIENT_SHARE": "1",
        "APP_PASSWORDS__MAX_WAITING_PER_CLIENT": "128",
        **{
            f"APP_THROTTLING__{name.upper()}": str(limit)
            for name, limit in SUITE_ADDRESS_LIMITS.items()
        },
        **SUITE_MFA_ENVIRONMENT,
        **variables,
    }


async def start_process(
    command: Sequence[str], environment: dict[str, str], output: IO[bytes] | None = None
) -> asyncio.subprocess.Process:
    """``python -m app <command>`` from the repository, stderr merged into stdout.

    Its output goes to ``output`` (a file), else to a pipe (``process.stdout``).
    """
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *command,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE if output is None else output,
        stderr=asyncio.subprocess.STDOUT,
    )


async def read_until(process: asyncio.subprocess.Process, event: str, seen: list[str]) -> None:
    """Read the process's JSON log lines into ``seen`` until one has ``event``."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        seen.append(line.decode())
        try:
            if json.loads(line).get("event") == event:
                return
        except ValueError:
            continue
    raise AssertionError(f"exited before {event!r}:\n{''.join(seen)}")
