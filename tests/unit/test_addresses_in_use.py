"""A taken address stops a process with one line naming the address and its setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.entrypoints.listeners import Listener, first_taken, server_listeners
from app.entrypoints.runner import ADDRESS_TAKEN
from tests.support.commands import run_app

ROOT = Path(__file__).resolve().parents[2]
EMPTY_CONFIG = ROOT / "tests" / "support" / "empty.yaml"
# Nothing listens on port 1: a process that connected before checking its
# addresses would fail there instead.
UNREACHABLE_STORES = {
    "APP_POSTGRES__DSN": "postgresql://postgres@127.0.0.1:1/user_service",
    "APP_REDIS__URL": "redis://127.0.0.1:1/0",
}


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def run_with(command: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m app command`` with only ``variables`` (and unreachable stores) set."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    return run_app(
        command,
        {
            **environment,
            "APP_CONFIG_FILE": str(EMPTY_CONFIG),
            "APP_HTTP__PORT": "0",
            **UNREACHABLE_STORES,
            **variables,
        },
    )


@pytest.mark.parametrize("setting", ["APP_GRPC__PORT", "APP_HTTP__PORT"])
def test_serve_names_a_taken_server_port_and_its_setting_before_connecting(taken_port, setting):
    ports = {"APP_GRPC__PORT": "0", setting: str(taken_port)}
    result = run_with("serve", APP_GRPC__HOST="127.0.0.1", APP_METRICS__ENABLED="false", **ports)
    assert result.returncode == ADDRESS_TAKEN
    assert result.stderr == (
        f"user-service: cannot listen on 127.0.0.1:{taken_port}: is already in use"
        f" (set {setting} to another port)\n"
    )


@pytest.mark.parametrize("command", ["serve", "worker", "relay", "courier"])
def test_every_process_names_a_taken_metrics_port_and_its_setting(taken_port, command):
    result = run_with(
        command,
        APP_GRPC__HOST="127.0.0.1",
        APP_GRPC__PORT="0",
        APP_METRICS__HOST="127.0.0.1",
        APP_METRICS__PORT=str(taken_port),
    )
    assert result.returncode == ADDRESS_TAKEN
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{taken_port}: is already in use" in result.stderr
    assert "APP_METRICS__PORT" in result.stderr


def test_the_server_lists_grpc_and_metrics_with_their_settings():
    settings = Settings(grpc={"host": "::1", "port": 5001}, metrics={"host": "::1", "port": 7071})
    listeners = server_listeners(settings)
    assert [(item.address, item.setting) for item in listeners] == [
        ("[::1]:5001", "APP_GRPC__PORT"),
        ("[::1]:8080", "APP_HTTP__PORT"),
        ("[::1]:7071", "APP_METRICS__PORT"),
    ]


def test_free_addresses_and_ports_chosen_by_the_kernel_pass():
    assert first_taken([Listener("127.0.0.1", 0, "APP_GRPC__PORT")]) is None


# A process whose address is free at the check and taken when the server binds:
# the serve function takes it first, then fails as the real server's bind does.
RACE = """
import asyncio, socket, sys
from app.entrypoints.listeners import Listener
from app.entrypoints.runner import run_process

port = int(sys.argv[1])
racer = socket.socket()

async def serve_after_another_process_took_the_port(settings, stop):
    racer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    racer.bind(("127.0.0.1", port))
    racer.listen()
    raise OSError(f"cannot listen on 127.0.0.1:{port}")

listeners = lambda settings: [Listener("127.0.0.1", port, "APP_GRPC__PORT")]
serve = serve_after_another_process_took_the_port
sys.exit(run_process("user-service", serve, listeners=listeners))
"""


def test_an_address_taken_after_the_check_is_named_in_the_same_one_line():
    with socket.socket() as finder:
        finder.bind(("127.0.0.1", 0))
        port = finder.getsockname()[1]
    environment = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    result = subprocess.run(
        [sys.executable, "-c", RACE, str(port)],
        cwd=ROOT,
        env={**environment, "APP_CONFIG_FILE": str(EMPTY_CONFIG)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ADDRESS_TAKEN, result.stderr
    assert result.stderr == (
        f"user-service: cannot listen on 127.0.0.1:{port}: is already in use"
        " (set APP_GRPC__PORT to another port)\n"
    )
