"""The getting-started page's other clients, run as written: the Python client
example prints what the page says, and grpcurl prints ``{}`` for a call that
returns nothing, as the page shows (blanks aside)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.client import login, register, unique_email
from tests.support.commands import run_in_repository
from tests.support.processes import process_environment

ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"


def section(title: str) -> str:
    text = GETTING_STARTED.read_text()
    start = text.index(title)
    following = text.find("\n## ", start + len(title))
    return text[start : following if following != -1 else None]


def python_client() -> tuple[str, str]:
    """The example's code and the output the page says it prints."""
    text = section("## A Python client")
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    printed = re.search(r"prints `([^`]+)`", text)
    assert code is not None and printed is not None
    return code[1], printed[1]


def empty_reply_example() -> tuple[str, str]:
    """The grpcurl command the page shows returning nothing, and what it prints."""
    text = GETTING_STARTED.read_text()
    paragraph = text[text.index("print an empty object") :]
    block = re.search(r"```text\n\$ (.*?)\n(.*?)```", paragraph, re.DOTALL)
    assert block is not None
    return block[1], block[2].strip()


async def test_the_python_client_example_prints_what_the_page_says_each_time_it_runs(
    application: Application,
) -> None:
    service = application
    code, printed = python_client()
    assert "alan@example.com" in code and printed == "alan@example.com user"
    code = code.replace("localhost:5000", f"127.0.0.1:{service.port}")

    for _ in range(2):  # the second run finds Alan registered already
        result = await asyncio.to_thread(
            run_in_repository, [sys.executable, "-c", code], process_environment(service.settings)
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == printed + "\n"


async def test_grpcurl_prints_an_empty_object_for_a_call_that_returns_nothing(
    application: Application, stub: pb_grpc.UserServiceAsyncStub
) -> None:
    service = application
    email = unique_email("empty-reply")
    await register(stub, email)
    _, session_id = await login(stub, email)
    command, printed = empty_reply_example()
    assert command.endswith("/Logout") and "".join(printed.split()) == "{}"
    command = command.replace("localhost:5000", f"127.0.0.1:{service.port}")
    environment = process_environment(service.settings, SESSION=session_id)
    environment["PATH"] = f"{ROOT / '.venv' / 'bin'}:{environment['PATH']}"

    result = await asyncio.to_thread(run_in_repository, ["bash", "-c", command], environment)

    assert result.returncode == 0, result.stderr
    # grpcurl indents the empty object's (empty) body: compare without the blanks.
    assert result.stdout.split() == printed.split()
