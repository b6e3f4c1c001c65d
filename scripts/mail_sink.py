"""The local mail sink: an SMTP server that keeps each message as a ``.eml`` file.

Where no Docker engine runs, ``make local`` (and ``make run``'s ``ensure``,
when the SMTP URL names it) starts aiosmtpd's own server with the handler
below, from the project's environment (aiosmtpd is a development dependency,
which ``make env`` installs)::

    python -m aiosmtpd -n -l 127.0.0.1:1025 -c scripts.mail_sink.EmlDirectory .local/mail

Each message becomes ``.local/mail/<number>-<UTC time>.eml``, so ``ls`` lists
them in order of arrival; ``make mail`` prints the newest. With Docker,
Mailpit takes the same port (its web UI on :8025). aiosmtpd speaks SMTP; this
module only names the files and starts and stops the process, as
``stack_native.py`` does for the other servers.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from argparse import ArgumentParser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from scripts.stack_addresses import LOCAL, ROOT, Address, answers
from scripts.stack_native import stop_by_pidfile

# `make run` sends mail here unless APP_MAIL__SMTP_URL says otherwise (LOCAL_SMTP_URL).
LOCAL_MAIL_SINK = Address("127.0.0.1", 1025)
MAIL = LOCAL / "mail"
# The sink's pid file and log: beside the messages, so that `ls .local/mail` shows mail only.
SINK_STATE = LOCAL / "mail-sink"

_NUMBERED = re.compile(r"^(\d+)-")


class EmlDirectory:
    """An aiosmtpd handler: each accepted message is written whole to one file in ``directory``.

    The file holds the message as received, after a ``Return-Path`` and one
    ``Delivered-To`` per envelope recipient (a Bcc shows there only). It is
    written under a hidden name and renamed, so a reader never sees half of it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        numbers = (_NUMBERED.match(path.name) for path in directory.glob("*.eml"))
        self._next = 1 + max((int(match[1]) for match in numbers if match), default=0)

    @classmethod
    def from_cli(cls, parser: ArgumentParser, *arguments: str) -> EmlDirectory:
        """``python -m aiosmtpd … -c scripts.mail_sink.EmlDirectory DIRECTORY``."""
        if len(arguments) != 1:
            parser.error("EmlDirectory takes one argument: the directory to keep mail in")
        return cls(Path(arguments[0]))

    def next_name(self) -> str:
        """The next file's name: a number that grows, then the UTC time, for people."""
        name = f"{self._next:06d}-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}.eml"
        self._next += 1
        return name

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd calls it by this name)
        trace = f"Return-Path: <{envelope.mail_from}>\r\n" + "".join(
            f"Delivered-To: {recipient}\r\n" for recipient in envelope.rcpt_tos
        )
        name = self.next_name()
        partial = self.directory / f".{name}.part"
        partial.write_bytes(trace.encode() + envelope.original_content)
        partial.replace(self.directory / name)
        return "250 Message accepted for delivery"


def names_the_local_sink(url: SecretStr | None) -> bool:
    """Whether an SMTP URL is the local sink's (plain SMTP at its address)."""
    if url is None:
        return False
    # The settings' own reading of the URL; imported here so that the sink's
    # process, which imports this module, needs nothing of the service.
    from app.adapters.mail.smtp_server import SmtpSecurity, smtp_server

    server = smtp_server(url)
    return (
        server.security is SmtpSecurity.PLAIN
        and server.host in {LOCAL_MAIL_SINK.host, "localhost"}
        and server.port == LOCAL_MAIL_SINK.port
    )


def start_native_mail_sink(
    address: Address = LOCAL_MAIL_SINK, directory: Path = MAIL, state: Path = SINK_STATE
) -> bool:
    """Start the sink in its own session, its pid in ``state``; True once it answers."""
    state.mkdir(parents=True, exist_ok=True)
    with (state / "mail-sink.log").open("ab") as log:
        # -n: stay the user who started it (aiosmtpd would switch to `nobody`).
        command = ["-m", "aiosmtpd", "-n", "-l", str(address), "-c", f"{__name__}.EmlDirectory"]
        process = subprocess.Popen(
            [sys.executable, *command, str(directory.resolve())],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    (state / "mail-sink.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and process.poll() is None:
        if answers(address):
            return True
        time.sleep(0.1)
    return False


def stop_native_mail_sink(state: Path = SINK_STATE) -> None:
    stop_by_pidfile(state / "mail-sink.pid", "mail sink")
