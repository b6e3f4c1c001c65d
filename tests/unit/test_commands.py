"""``python -m app <command>``: one parser, each command run by its module in app.entrypoints."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from app.entrypoints import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_command_is_run_by_its_module(command: str) -> None:
    module = importlib.import_module(cli.module_name(command))
    assert callable(module.run)


def test_without_a_command_the_usage_names_every_command_and_the_exit_status_is_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m app")
    listed = subprocess.run(
        [sys.executable, "-m", "app", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert all(command in listed for command in cli.COMMANDS)


def test_arguments_reach_the_command() -> None:
    arguments = cli.parser().parse_args(["health", "--timeout", "0.5"])
    assert (arguments.command, arguments.timeout, arguments.service) == ("health", 0.5, "")
    arguments = cli.parser().parse_args(["admin", "create", "--email", "ada@example.com"])
    assert (arguments.action, arguments.email, arguments.first_name) == (
        "create",
        "ada@example.com",
        "Admin",
    )


def test_an_unknown_command_is_refused_with_the_usage() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parser().parse_args(["serve-everything"])
    assert exited.value.code == 2
