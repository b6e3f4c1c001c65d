"""Reading verification mail in tests: the messages an address received (a courier
running meanwhile), their plain text, and the token of their link."""

from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import unquote

from app.adapters.postgres.bounded_pool import BoundedPool
from tests.support.client import eventually
from tests.support.couriers import couriering
from tests.support.mail import SmtpServer

_TOKEN = re.compile(r"[?&]token=([^&\s]+)")


def text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def mail_to(
    server: SmtpServer, pool: BoundedPool, address: str, count: int = 1
) -> list[EmailMessage]:
    """The messages ``address`` received, once it received ``count``, a courier running."""

    async def arrived() -> bool:
        received = [mail for mail in server.mailbox.received if str(mail["To"]) == address]
        return len(received) >= count

    async with couriering(pool, smtp_url=server.url()):
        await eventually(arrived)
    return [mail for mail in server.mailbox.received if mail["To"] == address]


def token_in(mail: EmailMessage) -> str:
    """The token of the link in ``mail``'s plain text."""
    found = _TOKEN.search(text_of(mail))
    assert found is not None
    return unquote(found.group(1))
