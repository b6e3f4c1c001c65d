"""Every aiosmtplib error is read as worth retrying or not, by one table."""

from __future__ import annotations

import inspect

import aiosmtplib

from app.adapters.mail.smtp import REFUSED_WHEN_5XX, RETRIED, classified
from app.domain.mail import MailRefused, MailUnavailable


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
