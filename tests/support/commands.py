"""Running ``python -m app`` as a real process on this run's stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.config import Settings
from tests.support.processes import SUITE_MFA_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]


async def run_command(
    settings: Settings, *arguments: str, stdin: str = "", **environment: str
) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``python -m app`` with ``stdin`` piped in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *arguments,
        cwd=ROOT,
        env={
            **os.environ,
            "APP_CONFIG_FILE": str(ROOT / "config" / "local.yaml"),
            "APP_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
            "APP_POSTGRES__CREATE_DATABASE": "true",
            "APP_REDIS__KEY_PREFIX": settings.redis.key_prefix,
            "APP_METRICS__ENABLED": "false",
            **SUITE_MFA_ENVIRONMENT,
            **environment,
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def run_in_repository(
    arguments: list[str], environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``arguments`` run from the repository root with exactly ``environment``."""
    return subprocess.run(
        arguments,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_app(command: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m app command`` from the repository root with exactly ``environment``."""
    return run_in_repository([sys.executable, "-m", "app", command], environment)
