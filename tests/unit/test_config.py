"""Settings: layered sources, validation that names the setting, secrets never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import config
from app.config import ConfigError, load_settings, sections

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_apply_without_file_or_environment(clean_environment):
    settings = load_settings()
    assert settings.grpc.port == 5000
    assert settings.metrics.port == 7070
    assert settings.sessions.ttl_seconds == 24 * 3600
    assert settings.events.stream == "events:users"


def test_environment_overrides_the_yaml_file(clean_environment, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("grpc:\n  port: 6000\nsessions:\n  ttl_seconds: 60\n")
    clean_environment.setenv("APP_CONFIG_FILE", str(config))
    clean_environment.setenv("APP_GRPC__PORT", "7000")
    settings = load_settings()
    assert settings.grpc.port == 7000
    assert settings.sessions.ttl_seconds == 60


def test_a_bad_value_names_the_setting_in_one_line(clean_environment):
    clean_environment.setenv("APP_SESSIONS__TTL_SECONDS", "-5")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "sessions.ttl_seconds" in message
    assert "APP_SESSIONS__TTL_SECONDS" in message
    assert "\n" not in message


def test_argon2_parameters_below_owasp_minimum_are_refused(clean_environment):
    clean_environment.setenv("APP_PASSWORDS__MEMORY_COST_KIB", "1024")
    with pytest.raises(ConfigError, match=r"passwords\.memory_cost_kib"):
        load_settings()


def test_a_missing_config_file_is_named(clean_environment):
    clean_environment.setenv("APP_CONFIG_FILE", "/nonexistent/settings.yaml")
    with pytest.raises(ConfigError, match=r"/nonexistent/settings\.yaml"):
        load_settings()


def test_secrets_are_not_printed(clean_environment):
    clean_environment.setenv("APP_POSTGRES__DSN", "postgresql://app:hunter2@db/users")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_the_process_stops_with_one_line_naming_a_bad_setting():
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env={"APP_GRPC__PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "grpc.port" in result.stderr


def test_hashing_threads_default_to_the_usable_cpus_less_one_and_at_least_one(monkeypatch):
    for cpus, threads in ((1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr(sections, "usable_cpus", lambda cpus=cpus: cpus)
        assert config.PasswordSettings().worker_count() == threads
    assert config.PasswordSettings(max_workers=3).worker_count() == 3


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"cluster": True, "key_prefix": "{user-service}:"}, "no braces in cluster mode"),
        ({"cluster": True, "cluster_seeds": ["redis-1"]}, "is not host:port"),
    ],
)
def test_cluster_settings_that_would_defeat_the_cluster_are_refused(fields, complaint):
    with pytest.raises(ValueError, match=complaint):
        sections.RedisSettings(**fields)


def test_cluster_settings_take_a_node_and_seeds():
    redis = sections.RedisSettings(cluster=True, cluster_seeds=["10.0.0.2:6379", "[::1]:6380"])
    assert redis.cluster and len(redis.cluster_seeds) == 2
    # On one Redis a brace in the prefix is only a character.
    assert sections.RedisSettings(key_prefix="{user-service}:").key_prefix == "{user-service}:"
