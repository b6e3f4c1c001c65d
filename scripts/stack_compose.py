"""The stack under ``docker compose``, where a Docker engine runs (see docker-compose.yml)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Collection

from scripts.mail_sink import LOCAL_MAIL_SINK
from scripts.stack_addresses import ROOT, Address, answers, say
from scripts.stack_native import PROMETHEUS

# The compose services `make local` starts, and the host ports each publishes.
COMPOSE_PORTS = {
    "postgres": (5432,),
    "redis": (6379,),
    "jaeger": (4317, 16686),
    "prometheus": (PROMETHEUS.port,),
    "grafana": (3000,),
    "mailpit": (LOCAL_MAIL_SINK.port, 8025),
}


def docker_engine_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return probe.returncode == 0


def compose_plugin_exists() -> bool:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)  # noqa: S607
    return probe.returncode == 0


def compose_up(only: Collection[str] | None = None) -> bool:
    """``docker compose up`` for every service (or those ``only`` names) whose host port is
    free; the others answer."""
    if not compose_plugin_exists():
        say(
            "the Docker engine runs but the compose plugin is missing "
            "(https://docs.docker.com/compose/install/); starting native servers instead"
        )
        return False
    services = []
    for service, ports in COMPOSE_PORTS.items():
        if only is not None and service not in only:
            continue
        taken = [port for port in ports if answers(Address("127.0.0.1", port))]
        if taken:
            say(
                f"port {', '.join(map(str, taken))} is taken: not starting compose service"
                f" {service}, using what answers"
            )
        else:
            services.append(service)
    if not services:
        return True
    say(f"Docker engine found: docker compose up {' '.join(services)}")
    command = ["docker", "compose", "up", "-d", "--wait", *services]
    return subprocess.run(command, cwd=ROOT, check=False).returncode == 0


def compose_down() -> int:
    """``docker compose down`` where the stack can have run; 0 where it cannot have."""
    if not (docker_engine_runs() and compose_plugin_exists()):
        return 0
    return subprocess.run(["docker", "compose", "down"], cwd=ROOT, check=False).returncode  # noqa: S607
