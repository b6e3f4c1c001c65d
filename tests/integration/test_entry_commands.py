"""The commands the image and the manifests run, through real processes.

``python -m app health`` is the container's health check and
``python -m app migrate`` the Kubernetes init container.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from app.config import Settings
from app.lifecycle import Application
from tests.support.databases import drop_database
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(arguments: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={**environment, "APP_LOGGING__FORMAT": "json", "APP_HTTP__PORT": "0", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def events(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """The process's JSON log lines by event name."""
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {line["event"]: line for line in lines}


async def test_the_health_probe_passes_while_the_service_serves(application: Application) -> None:
    result = await asyncio.to_thread(
        run, ["-m", "app", "health"], APP_GRPC__PORT=str(application.port)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"health-probe: 127.0.0.1:{application.port} SERVING"


def test_the_health_probe_fails_when_nothing_answers() -> None:
    port = free_port()

    result = run(["-m", "app", "health", "--timeout", "0.5"], APP_GRPC__PORT=str(port))

    assert result.returncode == 1
    assert result.stdout.strip() == f"health-probe: 127.0.0.1:{port} UNAVAILABLE"


def new_database_dsn(settings: Settings) -> str:
    parts = urlsplit(settings.postgres.dsn.get_secret_value())
    return urlunsplit(parts._replace(path=f"/user_service_migrate_{uuid.uuid4().hex[:12]}"))


async def database_exists(settings: Settings, dsn: str) -> bool:
    connection = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        name = urlsplit(dsn).path.lstrip("/")
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        return found is not None
    finally:
        await connection.close()


async def test_migrate_asked_to_create_creates_and_migrates_a_database_then_finds_nothing_to_do(
    settings: Settings,
) -> None:
    dsn = new_database_dsn(settings)
    create = {"APP_POSTGRES__DSN": dsn, "APP_POSTGRES__CREATE_DATABASE": "true"}
    try:
        first = await asyncio.to_thread(run, ["-m", "app", "migrate"], **create)
        second = await asyncio.to_thread(run, ["-m", "app", "migrate"], **create)
        connection = await asyncpg.connect(dsn)
        try:
            tables = {
                row["tablename"]
                for row in await connection.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            }
        finally:
            await connection.close()
    finally:
        await drop_database(dsn)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "database created" in events(first)
    assert events(first)["migrations applied"]["count"] >= 2
    assert "yoyo" not in first.stdout  # one line for them all, not yoyo's per step
    assert events(second)["migrations applied"]["count"] == 0
    assert "schema is current" in events(second)
    assert {"users", "event_outbox", "user_audit_log"} <= tables


@pytest.mark.parametrize("command", ["migrate", "serve", "worker"])
async def test_a_missing_database_is_named_and_not_created_unless_asked(
    settings: Settings, command: str
) -> None:
    dsn = new_database_dsn(settings)
    try:
        result = await asyncio.to_thread(
            run,
            ["-m", "app", command],
            APP_POSTGRES__DSN=dsn,
            APP_GRPC__HOST="127.0.0.1",
            APP_GRPC__PORT=str(free_port()),
            APP_METRICS__ENABLED="false",
        )
        created = await database_exists(settings, dsn)
    finally:
        await drop_database(dsn)

    name = urlsplit(dsn).path.lstrip("/")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert f"database '{name}' does not exist" in result.stderr
    assert "APP_POSTGRES__CREATE_DATABASE" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not created


def test_migrate_reports_an_unreachable_postgres_in_one_line() -> None:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/user_service"

    result = run(["-m", "app", "migrate"], APP_POSTGRES__DSN=dsn)

    assert result.returncode == 1
    assert "cannot migrate: PostgreSQL does not answer" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
