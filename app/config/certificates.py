"""The server certificate's validity: checked at start-up, warned about before it ends.

gRPC reads the certificate once, when the server starts, and serves it until
the process ends; so an expired one is refused before serving, and one that
expires within ``APP_GRPC__TLS__EXPIRY_WARNING_DAYS`` is logged at start-up
and its end exposed as a metric, to be renewed (and the pods restarted) in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from cryptography import x509

logger = structlog.get_logger(__name__)

CERT_FILE_SETTING = "grpc.tls.cert_file (APP_GRPC__TLS__CERT_FILE)"


def _moment(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Validity:
    """When the first certificate of a PEM file (the server's own, before its chain) is valid."""

    not_before: datetime
    not_after: datetime

    @classmethod
    def of(cls, path: Path) -> Validity:
        """Raise ``ValueError`` when ``path`` holds no certificate ``cryptography`` can read."""
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            raise ValueError(f"no readable PEM certificate in {path}") from None
        return cls(certificate.not_valid_before_utc, certificate.not_valid_after_utc)

    def check(self, now: datetime) -> None:
        """Raise ``ValueError`` (a one-line reason with the date) unless valid at ``now``."""
        if now >= self.not_after:
            raise ValueError(f"the certificate expired at {_moment(self.not_after)}")
        if now < self.not_before:
            raise ValueError(f"the certificate is not valid before {_moment(self.not_before)}")

    def warn_if_ending(self, now: datetime, warning_days: int) -> bool:
        """Log a warning when fewer than ``warning_days`` are left; whether it did."""
        left = self.not_after - now
        if left >= timedelta(days=warning_days):
            return False
        logger.warning(
            "tls certificate expires soon",
            setting=CERT_FILE_SETTING,
            expires_at=_moment(self.not_after),
            days_left=left.days,
        )
        return True


def now() -> datetime:
    return datetime.now(UTC)
