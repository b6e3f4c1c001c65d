"""Settings: defaults, then a YAML file, then environment variables.

The YAML file is chosen by ``APP_CONFIG_FILE`` (default ``config/local.yaml``
when it exists). Environment variables use the ``APP_`` prefix and ``__`` for
nesting: ``APP_POSTGRES__DSN``, ``APP_GRPC__PORT``. Everything is validated at
start-up; secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from redis.connection import parse_url as parse_redis_url

CONFIG_FILE_VARIABLE = "APP_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("config/local.yaml")


class _Section(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


def checked_postgres_dsn(dsn: SecretStr) -> SecretStr:
    """A ``postgresql://`` URL with a readable port; the message never repeats the DSN."""
    parts = urlsplit(dsn.get_secret_value())
    if parts.scheme not in {"postgresql", "postgres"}:
        raise ValueError("must be a URL like postgresql://user@host:5432/database")
    parts.port  # noqa: B018 - raises ValueError naming a bad port
    return dsn


def server_address(url: SecretStr, default_port: int) -> str:
    """``host:port`` of a DSN or URL, safe to log (no user, password or database)."""
    parts = urlsplit(url.get_secret_value())
    return f"{parts.hostname or 'localhost'}:{parts.port or default_port}"


def checked_redis_url(url: SecretStr | None) -> SecretStr | None:
    """A URL redis-py accepts (``redis://``, ``rediss://``, ``unix://``), parsed as it will be."""
    if url is not None:
        parse_redis_url(url.get_secret_value())  # type: ignore[no-untyped-call]
    return url


class TlsSettings(_Section):
    """The server's certificate and key (PEM files), and the CA that signs client certificates.

    Each file is read and checked at start-up, so a missing, unreadable or
    mismatched file stops the process with the setting's name.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    require_client_cert: bool = False

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    @field_validator("cert_file", "client_ca_file")
    @classmethod
    def _certificates(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        if path is None:
            return path
        _check_pem(path, "CERTIFICATE")
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


class GrpcSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(5000, ge=0, le=65535)
    grace_period_seconds: float = Field(10.0, gt=0)
    max_request_bytes: int = Field(1024 * 1024, ge=1024)
    reflection: bool = True
    # Peers whose x-forwarded-for is believed (load balancers, ingress); CIDRs.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    tls: TlsSettings = TlsSettings()
    # Plaintext beyond loopback; checked by the gRPC service only (check_transport).
    plaintext_allowed: bool = False
    drain_seconds: float = Field(5.0, ge=0)
    # Most concurrent calls per UserService method; past it RESOURCE_EXHAUSTED.
    method_concurrency: dict[str, int] = Field(
        default_factory=lambda: dict(HASHING_METHODS_CONCURRENCY)
    )
    method_concurrency_default: int = Field(256, ge=1)
    receive_timeout_seconds: float = Field(10.0, gt=0)
    keepalive_time_seconds: float = Field(60.0, gt=0)
    keepalive_timeout_seconds: float = Field(20.0, gt=0)
    keepalive_permit_without_calls: bool = True
    min_ping_interval_seconds: float = Field(10.0, gt=0)
    max_ping_strikes: int = Field(2, ge=0)
    max_connection_idle_seconds: float = Field(300.0, gt=0)
    max_connection_age_seconds: float = Field(1800.0, gt=0)
    max_connection_age_grace_seconds: float = Field(30.0, gt=0)
    max_concurrent_streams: int = Field(100, ge=1)
    handshake_timeout_seconds: float = Field(10.0, gt=0)
    # Processes serving the port, each with its own pools and event loop
    # (app/supervisor.py); "auto": one per usable CPU.
    workers: int = Field(1, ge=1)
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
        from app.grpc.generated import user_service_pb2

        methods = user_service_pb2.DESCRIPTOR.services_by_name["UserService"].methods_by_name
        for method, limit in limits.items():
            if method not in methods:
                raise ValueError(f"{method!r} is not a method of UserService")
            if limit < 1:
                raise ValueError(f"{method}: the limit must be at least 1")
        return limits


class PostgresSettings(_Section):
    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/user_service")
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    command_timeout_seconds: float = Field(5.0, gt=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    # false where a separate step migrates (`python -m app.migrate`: a Kubernetes init container).
    migrate_on_start: bool = True
    # One bound on a whole store call: waiting for a connection, the statements,
    # the commit (the client's deadline shortens it).
    call_timeout_seconds: float = Field(1.0, gt=0)

    _dsn = field_validator("dsn")(checked_postgres_dsn)


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "user-service:"
    max_connections: int = Field(64, ge=1)
    socket_timeout_seconds: float = Field(2.0, gt=0)
    # One bound on a whole command or pipeline: pool wait, connect, round trip.
    call_timeout_seconds: float = Field(1.0, gt=0)
    # A connection idle this long is PINGed before use (stale after a restart).
    health_check_interval_seconds: float = Field(1.0, ge=0)

    _url = field_validator("url")(checked_redis_url)


class SessionSettings(_Section):
    ttl_seconds: int = Field(24 * 3600, ge=1)
    # However busy, a session ends this long after login.
    absolute_lifetime_seconds: int = Field(7 * 24 * 3600, ge=1)
    # Live sessions per user; a login beyond it ends the oldest.
    max_per_user: int = Field(100, ge=1, le=10_000)
    # How long a cached principal is trusted before it is reloaded from PostgreSQL:
    # the bound for changes made directly in the database.
    user_refresh_seconds: int = Field(30, ge=1)


class CacheSettings(_Section):
    user_ttl_seconds: int = Field(300, ge=1)
    # A separate Redis for the user cache; unset means the sessions' Redis.
    redis_url: SecretStr | None = None

    _redis_url = field_validator("redis_url")(checked_redis_url)


class PasswordSettings(_Section):
    """argon2id parameters; the defaults are OWASP's minimum (19 MiB, t=2, p=1)."""

    memory_cost_kib: int = Field(19 * 1024, ge=19 * 1024)
    time_cost: int = Field(2, ge=2)
    parallelism: int = Field(1, ge=1)
    # Unset: one thread fewer than the usable CPUs (at least one), so the event loop keeps a core.
    max_workers: int | None = Field(None, ge=1)
    # Hashes waiting for a thread; past this, calls fail fast with RESOURCE_EXHAUSTED.
    max_waiting: int = Field(128, ge=0)
    min_length: int = Field(8, ge=8)
    max_length: int = Field(128, ge=8, le=1024)

    def worker_count(self) -> int:
        """The hashing threads: ``max_workers``, else the CPUs less one (at least one)."""
        if self.max_workers is not None:
            return self.max_workers
        return max(usable_cpus() - 1, 1)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class LoggingSettings(_Section):
    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class HealthSettings(_Section):
    check_interval_seconds: float = Field(2.0, gt=0)
    check_timeout_seconds: float = Field(1.0, gt=0)
    # After a store failed, calls that need it fail fast (before hashing) this long.
    fail_fast_seconds: float = Field(1.0, ge=0)


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(7070, ge=0, le=65535)


class TracingSettings(_Section):
    """What the service adds to OpenTelemetry's own ``OTEL_*`` variables (which win).

    Endpoint, protocol, sampler and batching are the SDK's variables
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_SAMPLER``…), read by the SDK.
    """

    enabled: bool = False
    service_name: str = "user-service"
    # For local use: print spans when no OTLP collector answers at start-up.
    console_without_collector: bool = False


class EventsSettings(_Section):
    stream: str = "events:users"
    max_length: int = Field(100_000, ge=1)
    group: str = "audit-log"
    group_start_id: str = "0"
    consumer_name: str | None = None
    batch_size: int = Field(100, ge=1)
    block_milliseconds: int = Field(1000, ge=1)
    min_idle_milliseconds: int = Field(30_000, ge=1)
    claim_interval_seconds: float = Field(5.0, gt=0)
    max_deliveries: int = Field(5, ge=1)
    relay_enabled: bool = True
    relay_batch_size: int = Field(100, ge=1)
    relay_poll_interval_seconds: float = Field(0.5, gt=0)
    # Published outbox rows older than this are deleted by the relay, in bounded batches.
    outbox_retention_seconds: float = Field(7 * 24 * 3600.0, ge=0)
    outbox_prune_interval_seconds: float = Field(60.0, gt=0)
    outbox_prune_batch_size: int = Field(1000, ge=1)


class ThrottlingSettings(_Section):
    """Login back-off per account and per client address; per-address rates of costly calls.

    After ``*_free_failures`` failed logins, each further attempt must wait
    ``first_wait_seconds``, doubled for every failure, at most ``max_wait_seconds``;
    a counter untouched for ``forget_after_seconds`` is forgotten.
    """

    account_free_failures: int = Field(5, ge=1)
    address_free_failures: int = Field(100, ge=1)
    first_wait_seconds: float = Field(1.0, gt=0)
    max_wait_seconds: float = Field(900.0, gt=0)
    forget_after_seconds: float = Field(12 * 3600.0, gt=0)
    register_per_address_per_minute: int = Field(60, ge=1)
    change_password_per_address_per_minute: int = Field(60, ge=1)
    # An address an account logged in from is exempt from that account's wait
    # for this long (0: never), so guessing from elsewhere cannot keep the owner out.
    known_address_seconds: float = Field(30 * 24 * 3600.0, ge=0)

    @model_validator(mode="after")
    def _waits_are_ordered(self) -> ThrottlingSettings:
        if self.first_wait_seconds > self.max_wait_seconds:
            raise ValueError("first_wait_seconds must not exceed max_wait_seconds")
        if self.max_wait_seconds >= self.forget_after_seconds:
            raise ValueError("forget_after_seconds must exceed max_wait_seconds")
        return self


class Settings(BaseSettings):
    """Every setting of the service, validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="APP_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    grpc: GrpcSettings = GrpcSettings()
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    sessions: SessionSettings = SessionSettings()
    cache: CacheSettings = CacheSettings()
    passwords: PasswordSettings = PasswordSettings()
    logging: LoggingSettings = LoggingSettings()
    health: HealthSettings = HealthSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    events: EventsSettings = EventsSettings()
    throttling: ThrottlingSettings = ThrottlingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_file_path()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it in one line."""


def config_file_path() -> Path | None:
    """The YAML file to read: ``$APP_CONFIG_FILE``, else ``config/local.yaml`` if present."""
    chosen = os.environ.get(CONFIG_FILE_VARIABLE)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_VARIABLE}: no such file: {path}")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


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


def load_settings() -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` naming the bad one."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "settings"
        env_name = "APP_" + "__".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(
            f"invalid setting {name} ({env_name}): {first['msg']}"
            f" ({err.error_count()} error(s) in all)"
        ) from None
