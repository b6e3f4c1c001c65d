"""Every aiosmtplib error is read as worth retrying or not, by one table."""

from __future__ import annotations

import inspect

import aiosmtplib
import pytest

from app.adapters.mail.smtp import REFUSED_WHEN_5XX, RETRIED, SmtpMailSender, classified
from app.adapters.mail.smtp_server import SmtpSecurity, SmtpServer
from app.adapters.mail.templates import MailTemplates
from app.domain.mail import MailRefused, MailUnavailable
from tests.support.mail import sample_message


def test_every_aiosmtplib_error_is_in_the_table():
    errors = {
        value
        for _, value in inspect.getmembers(aiosmtplib, inspect.isclass)
        if issubclass(value, aiosmtplib.SMTPException)
    }
    listed = {*REFUSED_WHEN_5XX, *RETRIED, aiosmtplib.SMTPRecipientsRefused}
    assert errors - listed == set()


def test_a_permanent_refusal_of_the_message_is_not_retried():
    refused = classified(aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.org"))
    assert isinstance(refused, MailRefused)
    assert refused.reason == "SMTPRecipientRefused: 550 no such user"
    every = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(551, "gone", "x@example.org")]
    )
    assert isinstance(classified(every), MailRefused)


def test_a_try_later_reply_an_outage_or_a_login_refused_is_retried():
    for error in (
        aiosmtplib.SMTPDataError(451, "try later"),
        aiosmtplib.SMTPAuthenticationError(535, "bad credentials"),
        aiosmtplib.SMTPConnectError("refused"),
        aiosmtplib.SMTPServerDisconnected("gone"),
        ConnectionResetError("reset"),
    ):
        assert isinstance(classified(error), MailUnavailable), error


async def test_a_message_its_template_cannot_render_is_refused_before_any_connection():
    templates = MailTemplates(
        product_name="Acme", sender="a@example.org", link_base_url="https://acme.example/r"
    )
    sender = SmtpMailSender(
        SmtpServer(SmtpSecurity.PLAIN, "127.0.0.1", 1, None, None),
        templates,
        from_address="a@example.org",
        product_name="Acme",
        timeout_seconds=1.0,
    )
    with pytest.raises(MailRefused, match="template password_reset: 'first_name' is undefined"):
        await sender.send(sample_message(values={}))
