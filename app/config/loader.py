"""Settings: defaults, then a YAML file, then environment variables.

The YAML file is chosen by ``APP_CONFIG_FILE`` (default ``config/local.yaml``
when it exists). Environment variables use the ``APP_`` prefix and ``__`` for
nesting: ``APP_POSTGRES__DSN``, ``APP_GRPC__PORT``. Everything is validated at
start-up; secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
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
from app.config.setting_names import unknown_keys, unknown_variables
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

    @property
    def metrics_host(self) -> str:
        """Where ``/metrics`` and the HTTP health endpoints listen: ``metrics.host``,
        else the gRPC host."""
        return self.grpc.host if self.metrics.host is None else self.metrics.host

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
            file_settings = read_config_file(config_file, settings_cls)
            sources.append(InitSettingsSource(settings_cls, init_kwargs=file_settings))
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


def read_config_file(path: Path, model: type[BaseSettings]) -> dict[str, Any]:
    """The YAML file's settings; :class:`ConfigError` in one line when it is not YAML
    (with line and column), not a mapping, or names a key that is no setting."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: {where}not valid YAML: {err.problem or err}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{path}: must be a mapping of sections (grpc:, postgres:, …),"
            f" not a YAML {type(data).__name__}"
        )
    problems = unknown_keys(model, data)
    if problems:
        raise ConfigError(f"{path}: {problems[0]}{_more(problems)}")
    return dict(data)


def _more(problems: list[str]) -> str:
    return f" ({len(problems)} problems in all)" if len(problems) > 1 else ""


def load_settings(environment: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` naming the bad one.

    Any ``APP_*`` variable of ``environment`` (the process's by default) that
    names no setting is refused, with the closest setting's name.
    """
    problems = unknown_variables(Settings, os.environ if environment is None else environment)
    if problems:
        raise ConfigError(f"{problems[0]}{_more(problems)}")
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
