"""The mail section: where the courier sends, as whom, and how it retries.

``smtp_url`` chooses the transport by its scheme: ``smtp://`` plain,
``smtp+starttls://`` upgraded with STARTTLS (required), ``smtps://`` TLS from
the first byte; a user and password in the URL log in. Unset, messages stay
queued (the courier says so once).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from app.adapters.mail.smtp_server import SmtpServer, smtp_server
from app.config.sections import DAY_SECONDS, Section


class MailSettings(Section):
    """The courier: the SMTP server, the sender, the links, the templates, the retries."""

    model_config = {"extra": "forbid", "frozen": True, "populate_by_name": True}

    # Unset: messages stay queued, and the courier says so once.
    smtp_url: SecretStr | None = None
    # The address mail comes from; the product name is its display name.
    from_address: str = Field("no-reply@localhost", alias="from", min_length=3, max_length=254)
    product_name: str = Field("User Service", min_length=1, max_length=100)
    # The page that receives a message's link: this URL with ?token=… added.
    link_base_url: str = "http://localhost:8080/account"
    # A directory of templates replacing the packaged ones, file by file.
    templates_dir: Path | None = None
    # The CA that signed the SMTP server's certificate (PEM); unset: the system's.
    ca_file: Path | None = None
    # One bound on a whole send: connect, TLS, login, the message, the reply.
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Run the courier inside the service process (false where `python -m app courier` runs).
    courier_enabled: bool = True
    batch_size: int = Field(20, ge=1, le=10_000)
    poll_interval_seconds: float = Field(1.0, gt=0, le=60)
    # Attempts per message before it is abandoned; the wait after the n-th
    # failed one is retry_first_seconds * 2^(n-1), at most retry_max_seconds.
    max_attempts: int = Field(8, ge=1, le=100)
    retry_first_seconds: float = Field(30.0, gt=0, le=DAY_SECONDS)
    retry_max_seconds: float = Field(3600.0, gt=0, le=DAY_SECONDS)

    @field_validator("smtp_url")
    @classmethod
    def _readable_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            smtp_server(url)
        return url

    @field_validator("link_base_url")
    @classmethod
    def _web_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if any(name == "token" for name, _ in parse_qsl(parts.query)):
            raise ValueError("must not have a token parameter of its own")
        return url

    @model_validator(mode="after")
    def _waits_are_ordered(self) -> MailSettings:
        if self.retry_first_seconds > self.retry_max_seconds:
            raise ValueError("retry_first_seconds must not exceed retry_max_seconds")
        return self

    def server(self) -> SmtpServer | None:
        """The SMTP server to send through; None when unset."""
        return None if self.smtp_url is None else smtp_server(self.smtp_url)
