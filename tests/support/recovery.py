"""Password recovery in tests: the token read from the message the SMTP server received."""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from tests.support.client import eventually
from tests.support.mail import SmtpServer

_LINK = re.compile(r"https?://\S+")


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
