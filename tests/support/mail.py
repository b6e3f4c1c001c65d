"""A real SMTP server for tests (aiosmtpd), the messages it received, and a way to queue mail.

:func:`smtp_server` runs a throwaway aiosmtpd controller on a spare loopback
port, in its own thread: plain, STARTTLS (required) or implicit TLS with
certificates this suite makes (trustme), optionally requiring a login. Its
:class:`Mailbox` keeps what it accepted; it can be slowed down or made to
refuse. :func:`queue_message` queues a message through the outbox port, as
the flows will. :func:`native_mail_sink` runs `make local`'s own sink instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.adapters.postgres.bounded_pool import BoundedPool
from app.adapters.postgres.mail_outbox import MailOutboxPgRepository
from app.domain.mail import Message, MessageKind
from scripts import mail_sink
from scripts.stack_addresses import Address
from tests.support.ports import free_port

# What each kind's templates need, for rendering them in tests (a value with
# markup, to see the HTML part escape it).
SAMPLE_VALUES: dict[MessageKind, dict[str, str]] = {
    MessageKind.PASSWORD_RESET: {"first_name": "Ann <b>&</b> Bob"},
    MessageKind.EMAIL_VERIFICATION: {"first_name": "Ann <b>&</b> Bob"},
    MessageKind.SECOND_FACTOR_RESET: {"first_name": "Ann <b>&</b> Bob"},
    MessageKind.PASSWORD_CHANGED: {"first_name": "Ann <b>&</b> Bob"},
    MessageKind.EMAIL_CHANGED: {"first_name": "Ann <b>&</b> Bob"},
}

# Kinds that tell the user of a change and carry no link (no token).
NOTICE_KINDS = frozenset(
    {MessageKind.SECOND_FACTOR_RESET, MessageKind.PASSWORD_CHANGED, MessageKind.EMAIL_CHANGED}
)

SMTP_USER, SMTP_PASSWORD = "courier", "s3cret pass"

Security = Literal["plain", "starttls", "tls"]


@dataclass
class Mailbox:
    """What the server accepted; ``delay`` slows each message, ``reply`` refuses them all,
    ``refuse`` maps a recipient to the reply that refuses it.

    The delay is spent before the message's content is sent (at RCPT): a
    client that dies meanwhile has not handed the message over.
    """

    delay: float = 0.0
    reply: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[EmailMessage] = field(default_factory=list)
    # Messages begun (past RCPT's wait or in it): more than received while one is in flight.
    begun: int = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.begun += 1
        await asyncio.sleep(self.delay)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    def in_flight(self) -> bool:
        """Whether a client is handing over a message (refused ones aside)."""
        return self.begun > len(self.received)

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.received]


@dataclass(frozen=True)
class SmtpServer:
    port: int
    mailbox: Mailbox

    def url(self, scheme: str = "smtp", login: bool = False) -> str:
        credentials = f"{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@" if login else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Certificates:
    """A CA this suite made, written to ``ca_file``, and a server context it signed."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_certificates(directory: Path) -> Certificates:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = directory / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(ca_file, context)


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    assert isinstance(auth_data, LoginPassword)
    known = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=known)


@contextlib.contextmanager
def smtp_server(
    mailbox: Mailbox | None = None,
    *,
    security: Security = "plain",
    certificates: Certificates | None = None,
    login: bool = False,
) -> Iterator[SmtpServer]:
    """An SMTP server on a spare loopback port until the block ends.

    With ``login`` it refuses mail from a client that has not logged in as
    ``SMTP_USER``; with ``starttls`` it refuses mail before STARTTLS.
    """
    mailbox = mailbox or Mailbox()
    tls: dict[str, Any] = {}
    if security != "plain":
        assert certificates is not None
        context = certificates.server_context
        tls = (
            {"ssl_context": context}
            if security == "tls"
            else {"tls_context": context, "require_starttls": True}
        )
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        authenticator=_authenticate if login else None,
        auth_required=login,
        # aiosmtpd counts only STARTTLS as TLS for this check; with implicit
        # TLS the whole connection is encrypted anyway.
        auth_require_tls=security == "starttls",
        **tls,
    )
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


@contextlib.contextmanager
def native_mail_sink(directory: Path) -> Iterator[tuple[Address, Path]]:
    """`make local`'s native sink on a spare port, keeping mail in ``directory / "mail"``.

    Yields its address and that directory; its pid file and log go beside it.
    """
    address, mail = Address("127.0.0.1", free_port()), directory / "mail"
    assert mail_sink.start_native_mail_sink(address, mail, directory / "state")
    try:
        yield address, mail
    finally:
        mail_sink.stop_native_mail_sink(directory / "state")


def sample_message(
    kind: MessageKind = MessageKind.PASSWORD_RESET,
    *,
    recipient: str | None = None,
    token: str | None = "sample-token",
    values: Mapping[str, str] | None = None,
) -> Message:
    """A message of ``kind`` with its sample values, to a unique address."""
    return Message(
        id=uuid.uuid4(),
        kind=kind,
        recipient=recipient or f"someone-{uuid.uuid4().hex[:8]}@example.com",
        values=SAMPLE_VALUES[kind] if values is None else values,
        token=token,
    )


async def queue_message(pool: BoundedPool, message: Message | None = None) -> Message:
    """Queue ``message`` (a sample one by default) through the outbox port."""
    message = message or sample_message()
    await MailOutboxPgRepository(pool).add(message)
    return message
