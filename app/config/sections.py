"""The settings' sections: each a frozen model of one part of the service.

The gRPC and TLS sections, with their checks, are in :mod:`app.config.transport`.
"""

from __future__ import annotations

import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from redis.connection import parse_url as parse_redis_url

from app.domain.users import UNSAFE_AVATAR_SCHEMES

# Upper bounds: every number a setting holds has one, far above any sane value
# and far below what would overflow a store, a timer or the memory
# (tests/unit/test_setting_bounds.py walks the model and fails on a number without).
DAY_SECONDS = 24 * 3600
YEAR_SECONDS = 365 * DAY_SECONDS


class Section(BaseModel):
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


class PostgresSettings(Section):
    dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/user_service")
    pool_min_size: int = Field(1, ge=0, le=1000)
    pool_max_size: int = Field(10, ge=1, le=1000)
    command_timeout_seconds: float = Field(5.0, gt=0, le=3600)
    connect_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # false where a separate step migrates (`python -m app migrate`: a Kubernetes init container).
    migrate_on_start: bool = True
    # Whether migrating may create a missing database (`make run` does for its default DSN);
    # off, a misspelt database name stops start-up instead of becoming an empty database.
    create_database: bool = False
    # One bound on a whole store call: waiting for a connection, the statements,
    # the commit (the client's deadline shortens it).
    call_timeout_seconds: float = Field(1.0, gt=0, le=3600)

    _dsn = field_validator("dsn")(checked_postgres_dsn)


class RedisSettings(Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "user-service:"
    max_connections: int = Field(64, ge=1, le=10_000)
    socket_timeout_seconds: float = Field(2.0, gt=0, le=300)
    # One bound on a whole command or pipeline: pool wait, connect, round trip.
    call_timeout_seconds: float = Field(1.0, gt=0, le=300)
    # A connection idle this long is PINGed before use (stale after a restart).
    health_check_interval_seconds: float = Field(1.0, ge=0, le=3600)
    # Redis Cluster: `url` names any node; the client learns the others and follows slots.
    cluster: bool = False
    # More nodes to start from in cluster mode ("host:port"), should `url`'s node be down.
    cluster_seeds: list[str] = Field(default_factory=list, max_length=64)

    _url = field_validator("url")(checked_redis_url)

    @model_validator(mode="after")
    def _cluster_keys_spread(self) -> RedisSettings:
        # A hash tag in the prefix would put every key in one slot: one node again.
        if self.cluster and ("{" in self.key_prefix or "}" in self.key_prefix):
            raise ValueError("key_prefix: no braces in cluster mode (they would be a hash tag)")
        for seed in self.cluster_seeds:
            host, _, port = seed.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"cluster_seeds: {seed!r} is not host:port")
        return self


class SessionSettings(Section):
    ttl_seconds: int = Field(24 * 3600, ge=1, le=YEAR_SECONDS)
    # However busy, a session ends this long after login.
    absolute_lifetime_seconds: int = Field(7 * 24 * 3600, ge=1, le=YEAR_SECONDS)
    # Live sessions per user; a login beyond it ends the oldest.
    max_per_user: int = Field(100, ge=1, le=10_000)
    # How long a cached principal is trusted before it is reloaded from PostgreSQL:
    # the bound for changes made directly in the database.
    user_refresh_seconds: int = Field(30, ge=1, le=DAY_SECONDS)


class CacheSettings(Section):
    user_ttl_seconds: int = Field(300, ge=1, le=DAY_SECONDS)
    # A separate Redis for the user cache; unset means the sessions' Redis.
    redis_url: SecretStr | None = None

    _redis_url = field_validator("redis_url")(checked_redis_url)


class PasswordSettings(Section):
    """argon2id parameters; the defaults are OWASP's minimum (19 MiB, t=2, p=1)."""

    memory_cost_kib: int = Field(19 * 1024, ge=19 * 1024, le=1024 * 1024)
    time_cost: int = Field(2, ge=2, le=100)
    parallelism: int = Field(1, ge=1, le=64)
    # Unset: one thread fewer than the usable CPUs (at least one), so the event loop keeps a core.
    max_workers: int | None = Field(None, ge=1, le=256)
    # Hashes waiting for a thread; past this, calls fail fast with RESOURCE_EXHAUSTED.
    max_waiting: int = Field(128, ge=0, le=100_000)
    # Of those, most waiting for one client (address group): one flood cannot fill the queue.
    max_waiting_per_client: int = Field(32, ge=1, le=100_000)
    # While password checks (Login) wait, one new-password hash (Register) per this many checks.
    checks_per_new_hash: int = Field(4, ge=1, le=1000)
    min_length: int = Field(8, ge=8, le=1024)
    max_length: int = Field(128, ge=8, le=1024)
    # zxcvbn's score (0 weakest, 4 strongest) a new password must reach; 0 turns the check off.
    min_score: int = Field(3, ge=0, le=4)

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


class LoggingSettings(Section):
    format: Literal["json", "console"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class HealthSettings(Section):
    check_interval_seconds: float = Field(2.0, gt=0, le=DAY_SECONDS)
    check_timeout_seconds: float = Field(1.0, gt=0, le=300)
    # After a store failed, calls that need it fail fast (before hashing) this long.
    fail_fast_seconds: float = Field(1.0, ge=0, le=300)


class MetricsSettings(Section):
    enabled: bool = True
    # Unset: the gRPC host (APP_GRPC__HOST), so both are loopback or both are not.
    host: str | None = None
    port: int = Field(7070, ge=0, le=65535)


class TracingSettings(Section):
    """What the service adds to OpenTelemetry's own ``OTEL_*`` variables (which win).

    Endpoint, protocol, sampler and batching are the SDK's variables
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_SAMPLER``…), read by the SDK.
    """

    enabled: bool = False
    service_name: str = "user-service"
    # For local use: print spans when no OTLP collector answers at start-up.
    console_without_collector: bool = False


class EventsSettings(Section):
    stream: str = "events:users"
    # Streams the events are split over, by user (1: the one stream above);
    # change it only with the relay stopped and the groups drained (docs/scaling-out.md).
    partitions: int = Field(1, ge=1, le=256)
    max_length: int = Field(100_000, ge=1, le=100_000_000)
    group: str = "audit-log"
    group_start_id: str = "0"
    consumer_name: str | None = None
    batch_size: int = Field(100, ge=1, le=10_000)
    block_milliseconds: int = Field(1000, ge=1, le=60_000)
    min_idle_milliseconds: int = Field(30_000, ge=1, le=7 * DAY_SECONDS * 1000)
    claim_interval_seconds: float = Field(5.0, gt=0, le=3600)
    max_deliveries: int = Field(5, ge=1, le=1000)
    relay_enabled: bool = True
    relay_batch_size: int = Field(100, ge=1, le=10_000)
    relay_poll_interval_seconds: float = Field(0.5, gt=0, le=60)
    # Published outbox rows older than this are deleted by the relay, in bounded batches.
    outbox_retention_seconds: float = Field(7 * 24 * 3600.0, ge=0, le=YEAR_SECONDS)
    outbox_prune_interval_seconds: float = Field(60.0, gt=0, le=DAY_SECONDS)
    outbox_prune_batch_size: int = Field(1000, ge=1, le=100_000)
    # On a Redis Cluster, how often the relay publishes session events whose
    # own forward never ran (docs/redis-cluster.md): the longest they wait.
    sweep_interval_seconds: float = Field(10.0, gt=0, le=3600)


class ThrottlingSettings(Section):
    """Login back-off per account and per client address; per-address rates of costly calls.

    After ``*_free_failures`` failed logins, each further attempt must wait
    ``first_wait_seconds``, doubled for every failure, at most ``max_wait_seconds``;
    a counter untouched for ``forget_after_seconds`` is forgotten.
    """

    account_free_failures: int = Field(5, ge=1, le=1000)
    address_free_failures: int = Field(100, ge=1, le=1_000_000)
    first_wait_seconds: float = Field(1.0, gt=0, le=3600)
    max_wait_seconds: float = Field(900.0, gt=0, le=DAY_SECONDS)
    forget_after_seconds: float = Field(12 * 3600.0, gt=0, le=30 * DAY_SECONDS)
    register_per_address_per_minute: int = Field(60, ge=1, le=1_000_000)
    change_password_per_address_per_minute: int = Field(60, ge=1, le=1_000_000)
    # An address an account logged in from is exempt from that account's wait
    # for this long (0: never), so guessing from elsewhere cannot keep the owner out.
    known_address_seconds: float = Field(30 * 24 * 3600.0, ge=0, le=YEAR_SECONDS)
    # Signs device tokens and keys the hashes that name accounts in Redis (a
    # separate key derived for each). Unset: a random key per process.
    secret_key: SecretStr | None = None
    device_token_lifetime_seconds: float = Field(90 * 24 * 3600.0, gt=0, le=400 * 24 * 3600.0)
    # Successful logins, as a burst of this many and then one every 60/n s: a
    # rate no person reaches, so correct passwords cannot flood the service.
    successful_logins_per_account_per_minute: int = Field(10, ge=1, le=1_000_000)
    successful_logins_per_address_per_minute: int = Field(300, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _waits_are_ordered(self) -> ThrottlingSettings:
        if self.first_wait_seconds > self.max_wait_seconds:
            raise ValueError("first_wait_seconds must not exceed max_wait_seconds")
        if self.max_wait_seconds >= self.forget_after_seconds:
            raise ValueError("forget_after_seconds must exceed max_wait_seconds")
        return self


class ProfileSettings(Section):
    """What a user's profile may hold."""

    # URL schemes an avatar may use; javascript, vbscript, data, file and blob
    # never pass, whatever is listed (they run code or inline content).
    avatar_schemes: list[str] = Field(default_factory=lambda: ["https"])

    @field_validator("avatar_schemes")
    @classmethod
    def _schemes_are_safe(cls, schemes: list[str]) -> list[str]:
        lowered = [scheme.lower() for scheme in schemes]
        if not lowered:
            raise ValueError("must name at least one scheme")
        unsafe = sorted(set(lowered) & UNSAFE_AVATAR_SCHEMES)
        if unsafe:
            raise ValueError(f"must not allow {', '.join(unsafe)}")
        for scheme in lowered:
            if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
                raise ValueError(f"{scheme!r} is not a URL scheme")
        return lowered


class ListingSettings(Section):
    """An admin's pages of users (ListUsers, AIP-158)."""

    # Users per page when the request asks for none (page_size 0).
    default_page_size: int = Field(50, ge=1, le=1000)
    # A larger page_size is lowered to this.
    max_page_size: int = Field(500, ge=1, le=1000)
    # A page token older than this is refused (INVALID_ARGUMENT): start again from the first page.
    page_token_lifetime_seconds: float = Field(24 * 3600.0, ge=1, le=30 * DAY_SECONDS)

    @model_validator(mode="after")
    def _default_within_maximum(self) -> ListingSettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size must not exceed max_page_size")
        return self
