"""An SMTP URL read once into what the client needs: security, host, port, login.

The URL's scheme says how the connection is secured: ``smtp://`` plain,
``smtp+starttls://`` upgraded with STARTTLS (required, not opportunistic),
``smtps://`` TLS from the first byte. The settings check a URL with
:func:`smtp_server` at start-up; the sender connects with what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr


class SmtpSecurity(StrEnum):
    PLAIN = "smtp"
    STARTTLS = "smtp+starttls"
    TLS = "smtps"


_DEFAULT_PORTS = {SmtpSecurity.PLAIN: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """An SMTP URL read into what a client needs; ``password`` is a secret."""

    security: SmtpSecurity
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def address(self) -> str:
        """``host:port``, safe to log."""
        return f"{self.host}:{self.port}"


def smtp_server(url: SecretStr) -> SmtpServer:
    """Read an SMTP URL; a ValueError names what is wrong (never repeating the URL)."""
    parts = urlsplit(url.get_secret_value())
    schemes = ", ".join(f"{scheme.value}://" for scheme in SmtpSecurity)
    try:
        security = SmtpSecurity(parts.scheme)
    except ValueError:
        raise ValueError(f"the scheme must be one of {schemes}") from None
    if not parts.hostname:
        raise ValueError("the URL names no host")
    port = parts.port or _DEFAULT_PORTS[security]  # .port raises ValueError on a bad one
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username is not None and security is SmtpSecurity.PLAIN:
        raise ValueError("a user and password need smtp+starttls:// or smtps://")
    return SmtpServer(security, parts.hostname, port, username, password)
