"""The docs' other clients, run as written: the Python gRPC client (getting
started) and the Python Connect client (the HTTP page) print what their pages
say, and grpcurl prints ``{}`` for a call that returns nothing, as the page
shows (blanks aside)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from app.grpc.generated import user_service_pb2_grpc as pb_grpc
from app.lifecycle import Application
from tests.support.client import login, register, unique_email
from tests.support.commands import run_in_repository
from tests.support.processes import process_environment

ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
HTTP = ROOT / "docs" / "http.md"


def section(page: Path, title: str) -> str:
    """``title``'s section of ``page``, up to the next heading of its level or above."""
    text = page.read_text()
    start = text.index(title) + len(title)
    level = len(title.split(" ")[0])
    following = re.compile(rf"\n#{{1,{level}}} ").search(text, start)
    return text[start : following.start() if following else None]


def python_client(page: Path, title: str) -> tuple[str, str]:
    """The example's code and the output the page says it prints."""
    text = section(page, title)
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    printed = re.search(r"prints\s+`([^`]+)`", text)
    assert code is not None and printed is not None
    return code[1], printed[1]


def nowhere_else(email: str, example: str) -> bool:
    """Whether ``email`` appears in the docs and the README only in ``example``: the
    examples run by tests share one database, so another page's run would find the
    user registered already (or this one would)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return sum(page.read_text().count(email) for page in pages) == example.count(email)


def empty_reply_example() -> tuple[str, str]:
    """The grpcurl command the page shows returning nothing, and what it prints."""
    text = GETTING_STARTED.read_text()
    paragraph = text[text.index("print an empty object") :]
    block = re.search(r"```text\n\$ (.*?)\n(.*?)```", paragraph, re.DOTALL)
    assert block is not None
    return block[1], block[2].strip()


@pytest.mark.parametrize(
    ("page", "title", "email", "client", "dialled", "port"),
    [
        (GETTING_STARTED, "## A Python client", "alan@example.com", "UserServiceStub",
         "localhost:5000", "port"),
        (HTTP, "### A Python Connect client", "dorothy@example.com", "UserServiceClientSync",
         "localhost:8080", "http_port"),
    ],
)  # fmt: skip
async def test_a_python_client_example_prints_what_its_page_says_each_time_it_runs(
    application: Application,
    page: Path,
    title: str,
    email: str,
    client: str,
    dialled: str,
    port: str,
) -> None:
    code, printed = python_client(page, title)
    assert email in code and client in code and printed == f"{email} user"
    assert nowhere_else(email, code + printed)
    code = code.replace(dialled, f"127.0.0.1:{getattr(application, port)}")

    for _ in range(2):  # the second run finds its user registered already
        result = await asyncio.to_thread(
            run_in_repository,
            [sys.executable, "-c", code],
            process_environment(application.settings),
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
