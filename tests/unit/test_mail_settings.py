"""The mail settings: the SMTP URL read into a transport, and the refusals."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from app.adapters.mail.smtp_server import SmtpSecurity, SmtpServer, smtp_server
from app.config.mail import MailSettings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:1025", SmtpServer(SmtpSecurity.PLAIN, "127.0.0.1", 1025, None, None)),
        ("smtp://mail.example", SmtpServer(SmtpSecurity.PLAIN, "mail.example", 25, None, None)),
        (
            "smtp+starttls://user:p%40ss@host:587",
            SmtpServer(SmtpSecurity.STARTTLS, "host", 587, "user", "p@ss"),
        ),
        ("smtp+starttls://host", SmtpServer(SmtpSecurity.STARTTLS, "host", 587, None, None)),
        ("smtps://host", SmtpServer(SmtpSecurity.TLS, "host", 465, None, None)),
    ],
)
def test_an_smtp_url_gives_its_security_host_port_and_login(url, expected):
    assert smtp_server(SecretStr(url)) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://host", "scheme must be one of"),
        ("smtp://", "names no host"),
        ("smtp://user:secret@host", "need smtp+starttls:// or smtps://"),
        ("smtps://host:99999", "out of range"),
    ],
)
def test_a_bad_smtp_url_is_refused_without_repeating_it(url, problem):
    with pytest.raises(ValidationError) as refused:
        MailSettings(smtp_url=SecretStr(url))
    assert problem in str(refused.value)
    assert "secret" not in str(refused.value)


def test_no_smtp_url_means_no_server():
    assert MailSettings().server() is None


def test_the_sender_is_the_from_setting():
    assert MailSettings.model_validate({"from": "a@example.org"}).from_address == "a@example.org"


@pytest.mark.parametrize("url", ["ftp://host/x", "https://host/x?token=1", "/relative"])
def test_a_link_base_that_is_not_a_web_page_or_has_a_token_is_refused(url):
    with pytest.raises(ValidationError):
        MailSettings(link_base_url=url)


def test_the_first_retry_wait_may_not_exceed_the_longest():
    with pytest.raises(ValidationError, match="retry_first_seconds"):
        MailSettings(retry_first_seconds=10, retry_max_seconds=5)
