"""Transport settings: the plaintext rule, TLS files checked at start-up, limits, server options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from structlog.testing import capture_logs

from app.config import ConfigError, GrpcSettings, check_transport, load_settings
from app.grpc.server import server_options, warn_about_plaintext

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def environment(clean_environment):
    return clean_environment


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pem")
    ca, other_ca = trustme.CA(), trustme.CA()
    server, other = ca.issue_cert("localhost"), other_ca.issue_cert("localhost")
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server.key",
        "other_key": directory / "other.key",
        "garbage": directory / "garbage.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    other.private_key_pem.write_to_path(str(files["other_key"]))
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    files["encrypted_key"] = directory / "encrypted.key"
    files["encrypted_key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    files["garbage"].write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    return files


def _error(environment) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_plaintext_on_a_non_loopback_host_needs_the_setting(environment):
    environment.setenv("APP_GRPC__HOST", "0.0.0.0")
    with pytest.raises(ConfigError) as caught:
        check_transport(load_settings().grpc)
    assert "APP_GRPC__PLAINTEXT_ALLOWED" in str(caught.value)
    assert "\n" not in str(caught.value)
    environment.setenv("APP_GRPC__PLAINTEXT_ALLOWED", "true")
    check_transport(load_settings().grpc)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_plaintext_on_loopback_needs_nothing(environment, host):
    environment.setenv("APP_GRPC__HOST", host)
    check_transport(load_settings().grpc)


def test_tls_on_any_host_needs_no_plaintext_setting(environment, pem_files):
    environment.setenv("APP_GRPC__HOST", "0.0.0.0")
    environment.setenv("APP_GRPC__TLS__CERT_FILE", str(pem_files["cert"]))
    environment.setenv("APP_GRPC__TLS__KEY_FILE", str(pem_files["key"]))
    check_transport(load_settings().grpc)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"CERT_FILE": "/nonexistent/server.pem", "KEY_FILE": "key"}, "APP_GRPC__TLS__CERT_FILE"),
        # A certificate that does not parse is named before the key that cannot match it.
        ({"CERT_FILE": "garbage", "KEY_FILE": "key"}, "APP_GRPC__TLS__CERT_FILE"),
        ({"CERT_FILE": "key", "KEY_FILE": "key"}, "APP_GRPC__TLS__CERT_FILE"),
        ({"CERT_FILE": "cert", "KEY_FILE": "cert"}, "APP_GRPC__TLS__KEY_FILE"),
        ({"CERT_FILE": "cert", "KEY_FILE": "other_key"}, "APP_GRPC__TLS__KEY_FILE"),
        ({"CERT_FILE": "cert", "KEY_FILE": "encrypted_key"}, "APP_GRPC__TLS__KEY_FILE"),
        ({"CERT_FILE": "cert"}, "APP_GRPC__TLS__KEY_FILE"),
        ({"KEY_FILE": "key"}, "APP_GRPC__TLS__CERT_FILE"),
        (
            {"CERT_FILE": "cert", "KEY_FILE": "key", "REQUIRE_CLIENT_CERT": "true"},
            "APP_GRPC__TLS__CLIENT_CA_FILE",
        ),
        (
            {"CERT_FILE": "cert", "KEY_FILE": "key", "CLIENT_CA_FILE": "ca"},
            "APP_GRPC__TLS__REQUIRE_CLIENT_CERT",
        ),
        (
            {
                "CERT_FILE": "cert",
                "KEY_FILE": "key",
                "CLIENT_CA_FILE": "garbage",
                "REQUIRE_CLIENT_CERT": "true",
            },
            "APP_GRPC__TLS__CLIENT_CA_FILE",
        ),
    ],
)
def test_a_bad_or_missing_tls_file_is_named(environment, pem_files, variables, named):
    environment.setenv("APP_GRPC__HOST", "127.0.0.1")
    for name, value in variables.items():
        environment.setenv(f"APP_GRPC__TLS__{name}", str(pem_files.get(value, value)))
    assert named in _error(environment)


def test_mutual_tls_settings_are_accepted(environment, pem_files):
    for name, value in {
        "CERT_FILE": pem_files["cert"],
        "KEY_FILE": pem_files["key"],
        "CLIENT_CA_FILE": pem_files["ca"],
        "REQUIRE_CLIENT_CERT": "true",
    }.items():
        environment.setenv(f"APP_GRPC__TLS__{name}", str(value))
    tls = load_settings().grpc.tls
    assert tls.require_client_cert and tls.client_ca_file == pem_files["ca"]


def test_method_limits_are_json_and_name_real_methods(environment):
    environment.setenv("APP_GRPC__HOST", "127.0.0.1")
    environment.setenv("APP_GRPC__METHOD_CONCURRENCY", json.dumps({"Login": 4, "GetMe": 64}))
    assert load_settings().grpc.method_concurrency == {"Login": 4, "GetMe": 64}
    environment.setenv("APP_GRPC__METHOD_CONCURRENCY", json.dumps({"login": 4}))
    assert "APP_GRPC__METHOD_CONCURRENCY" in _error(environment)
    environment.setenv("APP_GRPC__METHOD_CONCURRENCY", json.dumps({"Login": 0}))
    assert "APP_GRPC__METHOD_CONCURRENCY" in _error(environment)


def test_the_old_global_cap_is_refused_by_name(environment):
    environment.setenv("APP_GRPC__HOST", "127.0.0.1")
    environment.setenv("APP_GRPC__MAX_CONCURRENT_RPCS", "4")
    assert "APP_GRPC__MAX_CONCURRENT_RPCS" in _error(environment)


def test_server_options_are_core_channel_arguments_in_milliseconds():
    options = dict(
        server_options(
            GrpcSettings(
                host="127.0.0.1",
                keepalive_time_seconds=30,
                max_connection_age_seconds=600,
                max_connection_age_grace_seconds=5,
                max_concurrent_streams=50,
                receive_timeout_seconds=2,
            )
        )
    )
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 10_000
    assert options["grpc.http2.max_ping_strikes"] == 2
    assert options["grpc.max_connection_idle_ms"] == 300_000
    assert options["grpc.max_connection_age_ms"] == 600_000
    assert options["grpc.max_connection_age_grace_ms"] == 5_000
    assert options["grpc.max_concurrent_streams"] == 50
    assert options["grpc.server_handshake_timeout_ms"] == 10_000


def _start(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "APP_HTTP__PORT": "0", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"APP_GRPC__HOST": "0.0.0.0"}, "APP_GRPC__PLAINTEXT_ALLOWED"),
        (
            {"APP_GRPC__TLS__CERT_FILE": "/nonexistent.pem", "APP_GRPC__TLS__KEY_FILE": "/x"},
            "APP_GRPC__TLS__CERT_FILE",
        ),
    ],
)
def test_the_process_stops_with_one_line_naming_the_transport_setting(environment, named):
    result = _start(environment)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert named in result.stderr


def test_only_the_grpc_service_needs_the_plaintext_setting(environment):
    # The event processes serve no gRPC: plaintext on 0.0.0.0 is no reason to stop them.
    environment.setenv("APP_GRPC__HOST", "0.0.0.0")
    environment.setenv("APP_POSTGRES__DSN", "postgresql://postgres@127.0.0.1:1/nothing")
    environment.setenv("APP_POSTGRES__CONNECT_TIMEOUT_SECONDS", "0.5")
    result = subprocess.run(
        [sys.executable, "-m", "app", "worker"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in os.environ.items() if k.startswith("APP_")},
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Past the settings, it stops at the database nobody listens for (exit 1, not 2).
    output = result.stderr + result.stdout
    assert result.returncode == 1, output
    assert "cannot start" in output
    assert "APP_GRPC__PLAINTEXT_ALLOWED" not in output


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_plaintext_on_a_non_loopback_host_is_logged_as_a_warning(host, warned):
    with capture_logs() as logs:
        warn_about_plaintext(GrpcSettings(host=host, plaintext_allowed=True))
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert (
        any(log["event"] == "plaintext gRPC on a non-loopback address" for log in warnings)
        is warned
    )
