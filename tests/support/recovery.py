"""Password recovery in tests: an application on a clock the test moves, and the token
read from the message the SMTP server received."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.bootstrap import build_application
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.client import eventually
from tests.support.mail import SmtpServer
from tests.support.passwords import cheap_passwords_for

_LINK = re.compile(r"https?://\S+")


class SteeredClock:
    """The real time plus an offset the test moves forward (``advance``)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def steered_application(
    clock: SteeredClock, **sections: dict[str, Any]
) -> AsyncIterator[Application]:
    """An extra application on this run's stores whose clock is ``clock``."""
    settings = make_settings(**sections)
    application = await build_application(
        settings, passwords=cheap_passwords_for(settings), clock=clock
    )
    await application.start()
    try:
        yield application
    finally:
        await application.stop(grace=0.5)


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(mail: EmailMessage) -> str:
    """The ``token`` query parameter of the link in the message's plain-text part."""
    [link] = _LINK.findall(text_of(mail))
    [token] = parse_qs(urlsplit(str(link)).query)["token"]
    return str(token)


async def mail_to(server: SmtpServer, recipient: str, subject_word: str) -> EmailMessage:
    """The newest message to ``recipient`` whose subject has ``subject_word``, once it arrived."""

    def matching() -> list[EmailMessage]:
        return [
            mail
            for mail in server.mailbox.received
            if mail["To"] == recipient and subject_word in str(mail["Subject"])
        ]

    async def arrived() -> bool:
        return bool(matching())

    await eventually(arrived)
    return matching()[-1]
