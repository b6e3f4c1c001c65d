"""`make local`'s compose path: the plugin is checked and taken ports are left alone.

A fake ``docker`` on ``PATH`` records what it is asked; nothing is started.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts import local_stack, mail_sink, stack_compose
from tests.support.ports import free_port, silent_listener

ROOT = Path(__file__).resolve().parents[2]

FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "{log}"
if [ "$1 $2" = "compose version" ]; then exit {compose_version_status}; fi
exit 0
"""


@pytest.fixture
def taken_port() -> Iterator[int]:
    with silent_listener() as port:
        yield port


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, compose_plugin: bool) -> Path:
    log = tmp_path / "docker.log"
    docker = tmp_path / "docker"
    docker.write_text(
        FAKE_DOCKER.format(log=log, compose_version_status=0 if compose_plugin else 1)
    )
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return log


def test_compose_up_leaves_out_the_services_whose_port_is_taken(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    taken_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = fake_docker(tmp_path, monkeypatch, compose_plugin=True)
    monkeypatch.setattr(
        stack_compose, "COMPOSE_PORTS", {"postgres": (taken_port,), "redis": (free_port(),)}
    )

    assert stack_compose.docker_engine_runs()
    assert stack_compose.compose_up()

    assert log.read_text().splitlines()[-1] == "compose up -d --wait redis"
    assert f"port {taken_port} is taken: not starting compose service postgres" in (
        capsys.readouterr().out
    )


def test_without_the_compose_plugin_nothing_is_composed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = fake_docker(tmp_path, monkeypatch, compose_plugin=False)

    assert not stack_compose.compose_up()

    assert log.read_text().splitlines() == ["compose version"]
    assert "the compose plugin is missing" in capsys.readouterr().out


def test_compose_publishes_mailpit_pinned_by_tag_on_the_ports_make_local_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mailpit = compose["services"]["mailpit"]

    image, _, tag = mailpit["image"].partition(":")
    assert image == "axllent/mailpit"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), "pinned by a version tag"
    published = {int(port.rsplit(":", 2)[1]) for port in mailpit["ports"]}
    assert published == {mail_sink.LOCAL_MAIL_SINK.port, 8025}
    assert set(stack_compose.COMPOSE_PORTS["mailpit"]) == published
    assert all(port.startswith("127.0.0.1:") for port in mailpit["ports"])


@pytest.mark.parametrize(
    ("url", "started"), [(None, False), ("smtp://127.0.0.1:1025", True), ("smtp://x:25", False)]
)
def test_ensure_starts_the_mail_sink_only_when_mail_goes_to_it(
    monkeypatch: pytest.MonkeyPatch, url: str | None, started: bool
) -> None:
    calls: list[str] = []

    def start_mail_sink() -> bool:
        calls.append("sink")
        return True

    monkeypatch.setattr(local_stack, "start_stores", lambda only_missing: 0)
    monkeypatch.setattr(local_stack, "start_mail_sink", start_mail_sink)
    if url is None:
        monkeypatch.delenv("APP_MAIL__SMTP_URL", raising=False)
    else:
        monkeypatch.setenv("APP_MAIL__SMTP_URL", url)

    assert local_stack.up(only_missing=True) == 0

    assert calls == (["sink"] if started else [])


def test_local_down_stops_the_native_mail_sink(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(local_stack, "compose_down", lambda: 0)
    for name in ("postgres", "redis", "prometheus", "mail_sink"):
        monkeypatch.setattr(
            local_stack, f"stop_native_{name}", lambda name=name: stopped.append(name)
        )

    assert local_stack.down() == 0

    assert "mail_sink" in stopped
