"""The server certificate: expired or not yet valid stops the process; ending soon, a warning."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from app.config import ConfigError, TlsSettings, load_settings
from app.config.certificates import Validity
from app.entrypoints.serve import watch_certificate

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)


def _pair(directory: Path, not_before: datetime, not_after: datetime) -> dict[str, str]:
    """The certificate and key variables of a server certificate valid between the two."""
    server = trustme.CA().issue_cert("localhost", not_before=not_before, not_after=not_after)
    cert, key = directory / "server.pem", directory / "server.key"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    return {"APP_GRPC__TLS__CERT_FILE": str(cert), "APP_GRPC__TLS__KEY_FILE": str(key)}


@pytest.fixture
def expired(tmp_path: Path) -> dict[str, str]:
    return _pair(tmp_path, NOW - timedelta(days=90), NOW - timedelta(days=1))


def _refusal(clean_environment: pytest.MonkeyPatch, variables: dict[str, str]) -> str:
    for name, value in variables.items():
        clean_environment.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid setting grpc.tls.cert_file (APP_GRPC__TLS__CERT_FILE):")
    return message


def test_an_expired_certificate_is_refused_with_its_expiry(
    clean_environment: pytest.MonkeyPatch, expired: dict[str, str]
) -> None:
    ended = NOW - timedelta(days=1)
    assert f"expired at {ended:%Y-%m-%dT%H:%M:%SZ}" in _refusal(clean_environment, expired)


def test_a_certificate_not_yet_valid_is_refused_with_its_start(
    clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    starts = NOW + timedelta(days=2)
    variables = _pair(tmp_path, starts, NOW + timedelta(days=90))
    assert f"not valid before {starts:%Y-%m-%dT%H:%M:%SZ}" in _refusal(clean_environment, variables)


def test_the_service_does_not_start_with_an_expired_certificate(expired: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "APP_GRPC__HOST": "127.0.0.1", **expired},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "APP_GRPC__TLS__CERT_FILE" in result.stderr and "expired at" in result.stderr


@pytest.mark.parametrize(("days_left", "warned"), [(3, True), (13, True), (30, False)])
def test_a_certificate_ending_within_the_warning_window_is_logged_with_its_expiry(
    clean_environment: pytest.MonkeyPatch, tmp_path: Path, days_left: int, warned: bool
) -> None:
    ends = NOW + timedelta(days=days_left)
    for name, value in _pair(tmp_path, NOW - timedelta(days=1), ends).items():
        clean_environment.setenv(name, value)
    tls = load_settings().grpc.tls
    with capture_logs() as logs:
        watch_certificate(tls, None)
    warnings = [log for log in logs if log["event"] == "tls certificate expires soon"]
    assert bool(warnings) is warned
    if warned:
        [warning] = warnings
        assert warning["log_level"] == "warning"
        assert warning["expires_at"] == f"{ends:%Y-%m-%dT%H:%M:%SZ}"
        assert "APP_GRPC__TLS__CERT_FILE" in warning["setting"]


def test_the_warning_window_is_a_setting(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("APP_GRPC__TLS__EXPIRY_WARNING_DAYS", "400")
    with pytest.raises(ConfigError, match="APP_GRPC__TLS__EXPIRY_WARNING_DAYS"):
        load_settings()
    validity = Validity(NOW - timedelta(days=1), NOW + timedelta(days=20))
    with capture_logs() as logs:
        assert validity.warn_if_ending(NOW, 30) is True
        assert validity.warn_if_ending(NOW, 14) is False
    assert len(logs) == 1


def test_the_expiry_is_a_metric(clean_environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ends = NOW + timedelta(days=60)
    for name, value in _pair(tmp_path, NOW - timedelta(days=1), ends).items():
        clean_environment.setenv(name, value)
    registry = CollectorRegistry()
    watch_certificate(load_settings().grpc.tls, registry)
    expiry = registry.get_sample_value("tls_certificate_expiry_timestamp_seconds")
    assert expiry == ends.timestamp()


def test_without_tls_there_is_nothing_to_watch() -> None:
    registry = CollectorRegistry()
    with capture_logs() as logs:
        watch_certificate(TlsSettings(), registry)
    assert logs == []
    assert registry.get_sample_value("tls_certificate_expiry_timestamp_seconds") is None
