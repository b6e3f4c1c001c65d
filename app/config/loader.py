"""Settings: defaults, then a YAML file, then environment variables.

The YAML file is chosen by ``APP_CONFIG_FILE`` (default ``config/local.yaml``
when it exists). Environment variables use the ``APP_`` prefix and ``__`` for
nesting: ``APP_POSTGRES__DSN``, ``APP_GRPC__PORT``. Everything is validated at
start-up; secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from app.config.errors import ConfigError
from app.config.http import HttpSettings
from app.config.mail import MailSettings
from app.config.mfa import MfaSettings
from app.config.recovery import RecoverySettings
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
)
from app.config.transport import GrpcSettings
from app.config.verification import VerificationSettings

CONFIG_FILE_VARIABLE = "APP_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("config/local.yaml")


class Settings(BaseSettings):
    """Every setting of the service, validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="APP_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    grpc: GrpcSettings = GrpcSettings()
    http: HttpSettings = HttpSettings()
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
    listing: ListingSettings = ListingSettings()
    profiles: ProfileSettings = ProfileSettings()
    mfa: MfaSettings = MfaSettings()
    mail: MailSettings = MailSettings()
    recovery: RecoverySettings = RecoverySettings()
    verification: VerificationSettings = VerificationSettings()

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
