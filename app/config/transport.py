"""The gRPC section and its TLS files, and the check that gRPC is not exposed in plaintext."""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from typing import Self

from pydantic import Field, IPvAnyNetwork, ValidationInfo, field_validator, model_validator

from app.config.certificates import Validity, now
from app.config.errors import ConfigError
from app.config.sections import DAY_SECONDS, Section, usable_cpus


class TlsSettings(Section):
    """The server's certificate and key (PEM files), and the CA that signs client certificates.

    Each file is read and checked at start-up, so a missing, unreadable or
    mismatched file, or a server certificate outside its validity, stops the
    process with the setting's name.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    require_client_cert: bool = False
    # A certificate ending within this many days is logged at start-up.
    expiry_warning_days: int = Field(14, ge=0, le=365)

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    @field_validator("cert_file", "client_ca_file")
    @classmethod
    def _certificates(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return path
        _check_pem(path, "CERTIFICATE")
        if info.field_name == "cert_file":
            Validity.of(path).check(now())
        if info.field_name == "client_ca_file":
            try:
                ssl.create_default_context(cafile=path)
            except ssl.SSLError as err:
                raise ValueError(f"not PEM CA certificates: {err}") from None
        return path

    @field_validator("key_file")
    @classmethod
    def _matches_certificate(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return path
        _check_pem(path, "PRIVATE KEY")
        cert_file = info.data.get("cert_file")
        if cert_file is not None:
            try:
                # An empty password, never a prompt: gRPC reads only unencrypted keys.
                ssl.create_default_context().load_cert_chain(cert_file, path, password=b"")
            except (ssl.SSLError, ValueError) as err:
                raise ValueError(
                    f"not the unencrypted private key of the certificate: {err}"
                ) from None
        return path

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(
                "APP_GRPC__TLS__CERT_FILE and APP_GRPC__TLS__KEY_FILE go together: set both"
            )
        if self.require_client_cert and self.client_ca_file is None:
            raise ValueError(
                "APP_GRPC__TLS__REQUIRE_CLIENT_CERT needs APP_GRPC__TLS__CLIENT_CA_FILE"
            )
        if self.client_ca_file is not None and not self.require_client_cert:
            # gRPC Python can require and verify client certificates, or not ask
            # for them; a CA that would silently not be used is a mistake.
            raise ValueError(
                "APP_GRPC__TLS__CLIENT_CA_FILE is only used with"
                " APP_GRPC__TLS__REQUIRE_CLIENT_CERT=true"
            )
        if self.client_ca_file is not None and not self.enabled:
            raise ValueError("client certificates need TLS: set APP_GRPC__TLS__CERT_FILE")
        return self


def _check_pem(path: Path, label: str) -> None:
    """Raise ``ValueError`` unless ``path`` is a readable file with a PEM block of ``label``.

    ``PRIVATE KEY`` also matches ``RSA PRIVATE KEY`` and ``EC PRIVATE KEY``.
    """
    if not (path.is_file() and os.access(path, os.R_OK)):
        raise ValueError(f"cannot read {path}")
    text = path.read_text(errors="replace")
    if f"{label}-----" not in text or "-----BEGIN " not in text:
        raise ValueError(f"no PEM {label.lower()} in {path}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 possibly in brackets) is loopback only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Hashing RPCs: each call holds an argon2 worker (19 MiB, tens of ms of CPU).
HASHING_METHODS_CONCURRENCY = {"Login": 16, "Register": 16, "ChangePassword": 16}
# The most concurrent calls any one method may be allowed.
MAX_CONCURRENCY = 100_000


class GrpcSettings(Section):
    host: str = "0.0.0.0"
    port: int = Field(5000, ge=0, le=65535)
    grace_period_seconds: float = Field(10.0, gt=0, le=3600)
    max_request_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    reflection: bool = True
    # Peers whose x-forwarded-for is believed (load balancers, ingress); CIDRs.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    tls: TlsSettings = TlsSettings()
    # Plaintext beyond loopback; checked by the gRPC service only (check_transport).
    plaintext_allowed: bool = False
    drain_seconds: float = Field(5.0, ge=0, le=3600)
    # Most concurrent calls per UserService method; past it RESOURCE_EXHAUSTED.
    method_concurrency: dict[str, int] = Field(
        default_factory=lambda: dict(HASHING_METHODS_CONCURRENCY)
    )
    method_concurrency_default: int = Field(256, ge=1, le=MAX_CONCURRENCY)
    # Share of a method's limit one client (address group) may hold (at least one call).
    method_concurrency_client_share: float = Field(0.25, gt=0, le=1)
    receive_timeout_seconds: float = Field(10.0, gt=0, le=3600)
    keepalive_time_seconds: float = Field(60.0, gt=0, le=DAY_SECONDS)
    keepalive_timeout_seconds: float = Field(20.0, gt=0, le=3600)
    keepalive_permit_without_calls: bool = True
    min_ping_interval_seconds: float = Field(10.0, gt=0, le=3600)
    max_ping_strikes: int = Field(2, ge=0, le=1000)
    max_connection_idle_seconds: float = Field(300.0, gt=0, le=7 * DAY_SECONDS)
    max_connection_age_seconds: float = Field(1800.0, gt=0, le=7 * DAY_SECONDS)
    max_connection_age_grace_seconds: float = Field(30.0, gt=0, le=3600)
    max_concurrent_streams: int = Field(100, ge=1, le=10_000)
    # Open connections per process, counted by gRPC core; past it new ones are
    # closed at once. Per client address is the proxy's or load balancer's job.
    max_connections: int = Field(1000, ge=1, le=1_000_000)
    handshake_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Processes serving the port, each with its own pools and event loop
    # (app/entrypoints/supervisor.py); "auto": one per usable CPU.
    workers: int = Field(1, ge=1, le=256)
    # Let other processes bind the same port (SO_REUSEPORT); the supervisor sets it for its workers.
    reuse_port: bool = False

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, workers: object) -> object:
        return usable_cpus() if workers == "auto" else workers

    @model_validator(mode="after")
    def _workers_share_a_port(self) -> Self:
        if self.workers > 1 and self.port == 0:
            raise ValueError("several workers share one port: set APP_GRPC__PORT")
        return self

    @field_validator("method_concurrency")
    @classmethod
    def _known_methods(cls, limits: dict[str, int]) -> dict[str, int]:
        from app.grpc.service_contract import METHOD_NAMES

        for method, limit in limits.items():
            if method not in METHOD_NAMES:
                raise ValueError(f"{method!r} is not a method of UserService")
            if not 1 <= limit <= MAX_CONCURRENCY:
                raise ValueError(
                    f"{method}: the limit must be at least 1 and at most {MAX_CONCURRENCY}"
                )
        return limits


def check_transport(settings: GrpcSettings) -> None:
    """Raise :class:`ConfigError` unless gRPC is TLS, on loopback, or plaintext by choice.

    Checked by the gRPC service at start-up (the event processes serve no gRPC).
    """
    exposed = not settings.tls.enabled and not is_loopback(settings.host)
    if exposed and not settings.plaintext_allowed:
        raise ConfigError(
            "invalid setting grpc.plaintext_allowed (APP_GRPC__PLAINTEXT_ALLOWED):"
            f" plaintext gRPC on {settings.host}, which is not loopback: configure TLS"
            " (APP_GRPC__TLS__CERT_FILE, APP_GRPC__TLS__KEY_FILE) or set"
            " APP_GRPC__PLAINTEXT_ALLOWED=true (e.g. behind a mesh that encrypts)"
        )
