"""SmtpMailSender: a message rendered and handed to an SMTP server with aiosmtplib.

One connection per message: mail is rare next to the calls the service
serves, and a fresh connection has no state to go stale between messages.
Each aiosmtplib error is read once, in :func:`classified`, as worth retrying
(:class:`~app.domain.mail.MailUnavailable`) or not
(:class:`~app.domain.mail.MailRefused`); a test fails when aiosmtplib gains an
error that is not in the table.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

import aiosmtplib
from jinja2 import TemplateError

from app.adapters.mail.smtp_server import SmtpSecurity, SmtpServer
from app.adapters.mail.templates import MailTemplates
from app.domain.mail import MailRefused, MailUnavailable, Message

# A reply of the 5xx class to these says the message will never be taken as
# it is (a bad sender or recipient, content refused): retrying cannot help.
# Any other reply, including a 5xx at greeting, HELO or login (the server or
# its settings, which an operator can fix), is retried.
REFUSED_WHEN_5XX: tuple[type[aiosmtplib.SMTPException], ...] = (
    aiosmtplib.SMTPSenderRefused,
    aiosmtplib.SMTPRecipientRefused,
    aiosmtplib.SMTPDataError,
)
# Always worth retrying: the server could not be reached, went away, was slow,
# answered 4xx, or does not offer what the URL asks (STARTTLS, AUTH).
RETRIED: tuple[type[aiosmtplib.SMTPException], ...] = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPConnectResponseError,
    aiosmtplib.SMTPConnectTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPReadTimeoutError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPNotSupported,
    aiosmtplib.SMTPResponseException,
    aiosmtplib.SMTPException,
)


def classified(err: aiosmtplib.SMTPException | OSError) -> MailRefused | MailUnavailable:
    """The domain error for a failed send, with a reason safe to store and log."""
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        # One recipient per message: its refusal is the message's.
        return classified(err.recipients[0]) if err.recipients else MailUnavailable(repr(err))
    if isinstance(err, aiosmtplib.SMTPResponseException):
        reason = f"{type(err).__name__}: {err.code} {err.message}"
        if isinstance(err, REFUSED_WHEN_5XX) and err.code >= 500:
            return MailRefused(reason)
        return MailUnavailable(reason)
    return MailUnavailable(f"{type(err).__name__}: {err}")


class SmtpMailSender:
    """Satisfies ``MailSender``: renders with ``templates``, sends through ``server``."""

    def __init__(
        self,
        server: SmtpServer,
        templates: MailTemplates,
        *,
        from_address: str,
        product_name: str,
        timeout_seconds: float,
        ca_file: Path | None = None,
    ) -> None:
        self._server = server
        self._templates = templates
        self._from = formataddr((product_name, from_address))
        self._domain = from_address.rpartition("@")[2] or "localhost"
        self._timeout = timeout_seconds
        self._tls_context = (
            None
            if server.security is SmtpSecurity.PLAIN
            else ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        )

    async def send(self, message: Message) -> None:
        email = self.compose(message)
        server = self._server
        try:
            await aiosmtplib.send(
                email,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                timeout=self._timeout,
                use_tls=server.security is SmtpSecurity.TLS,
                start_tls=server.security is SmtpSecurity.STARTTLS,
                tls_context=self._tls_context,
            )
        except (aiosmtplib.SMTPException, OSError) as err:
            raise classified(err) from err

    def compose(self, message: Message) -> EmailMessage:
        """The message as mail: headers, a plain-text part and its HTML alternative.

        Its Message-ID is made from the message's id, so a message sent twice
        (a courier that died after the server took it) can be told for the same.
        """
        try:
            rendered = self._templates.render(message)
        except TemplateError as err:
            raise MailRefused(f"template {message.kind.value}: {err.message}") from err
        email = EmailMessage()
        email["From"] = self._from
        email["To"] = message.recipient
        email["Subject"] = rendered.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message.id}@{self._domain}>"
        email.set_content(rendered.text)
        email.add_alternative(rendered.html, subtype="html")
        return email
