"""Mistakes in the settings stop start-up with one line that says where and what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings
from app.config.setting_names import NOT_SETTINGS, setting_paths, variable_name
from tests.support.commands import run_app

ROOT = Path(__file__).resolve().parents[2]


def refusal(clean_environment: pytest.MonkeyPatch) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_malformed_yaml_is_named_with_its_line_and_column(clean_environment, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("grpc:\n  port: 5000\n   host: x\n")
    clean_environment.setenv("APP_CONFIG_FILE", str(config))
    message = refusal(clean_environment)
    assert str(config) in message
    assert "line 3, column 8" in message


@pytest.mark.parametrize("text", ["- grpc\n- postgres\n", "just words\n", "5000\n"])
def test_a_yaml_list_or_scalar_is_refused_as_not_a_mapping(clean_environment, tmp_path, text):
    config = tmp_path / "settings.yaml"
    config.write_text(text)
    clean_environment.setenv("APP_CONFIG_FILE", str(config))
    message = refusal(clean_environment)
    assert f"{config}: must be a mapping" in message


def test_an_empty_yaml_file_leaves_the_defaults(clean_environment, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("# nothing yet\n")
    clean_environment.setenv("APP_CONFIG_FILE", str(config))
    assert load_settings().grpc.port == 5000


@pytest.mark.parametrize(
    ("text", "named", "suggested"),
    [
        ("grpc:\n  prot: 6000\n", "grpc.prot", "grpc.port"),
        ("gprc:\n  port: 6000\n", "gprc", "grpc"),
        ("grpc:\n  tls:\n    cert_fle: x\n", "grpc.tls.cert_fle", "grpc.tls.cert_file"),
    ],
)
def test_a_wrong_key_in_the_file_is_named_with_the_closest_key(
    clean_environment, tmp_path, text, named, suggested
):
    config = tmp_path / "settings.yaml"
    config.write_text(text)
    clean_environment.setenv("APP_CONFIG_FILE", str(config))
    message = refusal(clean_environment)
    assert f"{config}: unknown key {named}; did you mean {suggested}?" in message


@pytest.mark.parametrize(
    ("variable", "suggested"),
    [
        ("APP_GRPC_PORT", "APP_GRPC__PORT"),
        ("APP_GPRC__PORT", "APP_GRPC__PORT"),
        ("APP_GRPC__PROT", "APP_GRPC__PORT"),
        ("APP_POSTGRES__DNS", "APP_POSTGRES__DSN"),
        ("app_grpc__prot", "APP_GRPC__PORT"),
    ],
)
def test_a_misspelt_variable_stops_start_up_with_the_closest_setting(
    clean_environment, variable, suggested
):
    clean_environment.setenv(variable, "5001")
    message = refusal(clean_environment)
    assert f"environment variable {variable} is not a setting" in message
    assert f"did you mean {suggested}?" in message


def test_every_setting_and_the_config_file_variable_are_accepted(clean_environment):
    for path, _ in setting_paths(Settings):
        assert variable_name(path) not in NOT_SETTINGS
    clean_environment.setenv("APP_GRPC__PORT", "6000")
    clean_environment.setenv("APP_GRPC__TLS__EXPIRY_WARNING_DAYS", "3")
    clean_environment.setenv(
        "APP_MFA__ENCRYPTION_KEYS__LOCAL", "bG9jYWwgZGV2ZWxvcG1lbnQgb25seTsgcHVibGljISE="
    )
    clean_environment.setenv("app_sessions__ttl_seconds", "60")
    settings = load_settings()
    assert settings.grpc.port == 6000
    assert settings.grpc.tls.expiry_warning_days == 3
    assert settings.sessions.ttl_seconds == 60


def test_a_variable_outside_the_prefix_is_none_of_the_services_business(clean_environment):
    clean_environment.setenv("APPLICATION_MODE", "x")
    clean_environment.setenv("GRPC_PORT", "1")
    assert load_settings().grpc.port == 5000


@pytest.mark.parametrize("command", ["serve", "worker", "relay", "courier", "migrate"])
def test_every_process_refuses_a_misspelt_variable_in_one_line(command):
    result = run_app(command, {"APP_GPRC__PORT": "5001", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "APP_GPRC__PORT is not a setting; did you mean APP_GRPC__PORT?" in result.stderr
