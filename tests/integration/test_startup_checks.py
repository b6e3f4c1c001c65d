"""What a newcomer sees when an address is wrong: one line, and nothing started.

Through the real processes: ``scripts/local_stack.py ensure`` (the first step
of ``make run``, ``make worker``, ``make relay``) and the process entries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import answers, free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = (["scripts/local_stack.py", "ensure"], ["-m", "app", "serve"])


def run(arguments: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("APP_", "OTEL_"))
    }
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={**environment, "APP_HTTP__PORT": "0", **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("setting", "url", "name"),
    [
        ("APP_POSTGRES__DSN", "postgresql://postgres@127.0.0.1:{port}/user_service", "PostgreSQL"),
        ("APP_REDIS__URL", "redis://127.0.0.1:{port}/0", "Redis"),
    ],
)
def test_make_run_starts_nothing_for_an_address_the_user_chose(
    setting: str, url: str, name: str
) -> None:
    port = free_port()

    result = run(["scripts/local_stack.py", "ensure"], **{setting: url.format(port=port)})

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{name} does not answer at 127.0.0.1:{port}, the address {setting} names" in (
        result.stdout
    )
    assert "started at" not in result.stdout
    assert not answers(port)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry[-1])
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("APP_POSTGRES__DSN", "localhost:5432"),
        ("APP_POSTGRES__DSN", "postgresql://postgres:s3cret@127.0.0.1:54x2/user_service"),
        ("APP_REDIS__URL", "127.0.0.1:6379"),
        ("APP_REDIS__URL", "redis://:s3cret@127.0.0.1:99999/0"),
        ("APP_CACHE__REDIS_URL", "localhost:6380"),
    ],
)
def test_a_malformed_dsn_or_url_exits_2_with_one_line_naming_the_setting(
    entry: list[str], setting: str, value: str
) -> None:
    result = run(entry, **{setting: value})

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]
    assert "s3cret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("command", "process"),
    [("serve", "user-service"), ("worker", "user-service-worker"), ("relay", "user-service-relay")],
)
def test_an_otel_exporter_that_is_not_installed_exits_2_with_one_line(
    command: str, process: str
) -> None:
    # Stores that do not answer: the exporter is refused before any is asked.
    result = run(
        ["-m", "app", command],
        OTEL_TRACES_EXPORTER="zipkin",
        APP_POSTGRES__DSN=f"postgresql://postgres@127.0.0.1:{free_port()}/user_service",
        APP_REDIS__URL=f"redis://127.0.0.1:{free_port()}/0",
        APP_GRPC__PORT="0",
        APP_METRICS__PORT="0",
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{process}: OTEL_TRACES_EXPORTER: exporter 'zipkin' is not installed"
    ]
