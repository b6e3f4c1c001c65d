"""Settings: defaults, then a YAML file, then environment variables.

The YAML file is chosen by ``APP_CONFIG_FILE`` (default ``config/local.yaml``
when it exists). Environment variables use the ``APP_`` prefix and ``__`` for
nesting: ``APP_POSTGRES__DSN``, ``APP_GRPC__PORT``. Everything is validated at
start-up; secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_FILE_VARIABLE = "APP_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("config/local.yaml")


class _Section(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


class GrpcSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(5000, ge=0, le=65535)
    grace_period_seconds: float = Field(10.0, gt=0)
    max_request_bytes: int = Field(1024 * 1024, ge=1024)
    max_concurrent_rpcs: int | None = Field(None, ge=1)
    reflection: bool = True
    # Peers whose x-forwarded-for is believed (load balancers, ingress); CIDRs.
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()


class PostgresSettings(_Section):
    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/user_service")
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    command_timeout_seconds: float = Field(5.0, gt=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "user-service:"
    max_connections: int = Field(64, ge=1)
    socket_timeout_seconds: float = Field(2.0, gt=0)


class SessionSettings(_Section):
    ttl_seconds: int = Field(24 * 3600, ge=1)


class CacheSettings(_Section):
    user_ttl_seconds: int = Field(300, ge=1)
    # A separate Redis for the user cache; unset means the sessions' Redis.
    redis_url: SecretStr | None = None


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


class MetricsSettings(_Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = Field(7070, ge=0, le=65535)


class TracingSettings(_Section):
    """OpenTelemetry tracing; the standard ``OTEL_*`` variables override these."""

    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4317"
    insecure: bool = True
    service_name: str = "user-service"
    sampler_ratio: float = Field(1.0, ge=0.0, le=1.0)


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
