"""Settings (pydantic-settings), read once at start-up; see :mod:`app.config.loader`.

``from app.config import Settings, load_settings, ConfigError, …`` is the way
in: the sections live in :mod:`app.config.sections` and
:mod:`app.config.transport`, the sources and the loader in
:mod:`app.config.loader`.
"""

from app.config.errors import ConfigError
from app.config.http import HttpSettings
from app.config.loader import (
    CONFIG_FILE_VARIABLE,
    DEFAULT_CONFIG_FILE,
    Settings,
    config_file_path,
    load_settings,
)
from app.config.sections import (
    CacheSettings,
    EventsSettings,
    HealthSettings,
    ListingSettings,
    LoggingSettings,
    MetricsSettings,
    PasswordSettings,
    PostgresSettings,
    ProfileSettings,
    RedisSettings,
    SessionSettings,
    ThrottlingSettings,
    TracingSettings,
    checked_postgres_dsn,
    checked_redis_url,
    server_address,
    usable_cpus,
)
from app.config.transport import (
    HASHING_METHODS_CONCURRENCY,
    GrpcSettings,
    TlsSettings,
    check_transport,
    is_loopback,
)

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_CONFIG_FILE",
    "HASHING_METHODS_CONCURRENCY",
    "CacheSettings",
    "ConfigError",
    "EventsSettings",
    "GrpcSettings",
    "HealthSettings",
    "HttpSettings",
    "ListingSettings",
    "LoggingSettings",
    "MetricsSettings",
    "PasswordSettings",
    "PostgresSettings",
    "ProfileSettings",
    "RedisSettings",
    "SessionSettings",
    "Settings",
    "ThrottlingSettings",
    "TlsSettings",
    "TracingSettings",
    "check_transport",
    "checked_postgres_dsn",
    "checked_redis_url",
    "config_file_path",
    "is_loopback",
    "load_settings",
    "server_address",
    "usable_cpus",
]
