"""Bring up PostgreSQL and Redis for `make local`, `make run` and `make test`.

    python scripts/local_stack.py up      # start everything (docker compose, else native)
    python scripts/local_stack.py ensure  # start PostgreSQL/Redis only if they do not answer
    python scripts/local_stack.py down    # stop what `up` started

Addresses come from the service's own settings (``APP_POSTGRES__DSN``,
``APP_REDIS__URL``, the YAML file), so the check looks exactly where the
service will connect. Where a Docker engine runs, ``docker compose`` starts the
stack; elsewhere native ``postgres`` and ``redis-server`` binaries are started
with their data under ``.local/`` (git-ignored). A server that already answers
at the configured address is used as it is.

``ensure`` (``make run``, ``make test``) starts a server only for the default
address: an address the user chose (environment or YAML) that does not answer
is reported and nothing is started, so a typo never becomes an empty database.
A setting that cannot be read exits 2 with one line naming it.

Written by hand because it is glue between the settings, docker compose and
the native servers' own control tools (pg_ctl, redis-server), which do the
real work.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
sys.path.insert(0, str(ROOT))

from app.config import ConfigError, PostgresSettings, RedisSettings, load_settings  # noqa: E402


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def say(message: str) -> None:
    print(f"local-stack: {message}", flush=True)


def answers(address: Address, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_answers(address: Address, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(address):
            return True
        time.sleep(0.2)
    return False


def docker_engine_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return probe.returncode == 0


def address_of(url: str, default_port: int) -> Address:
    parts = urlsplit(url)
    return Address(parts.hostname or "127.0.0.1", parts.port or default_port)


# --- PostgreSQL -------------------------------------------------------------


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user."""
    if os.geteuid() != 0:
        return command
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--", *command]
    raise SystemExit("local-stack: running as root and no 'postgres' user to run PostgreSQL")


def _chown_for_server(path: Path) -> None:
    if os.geteuid() != 0:
        return
    for user in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            continue
        for current, _, files in os.walk(path):
            os.chown(current, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(current, name), entry.pw_uid, entry.pw_gid)
        return


def start_native_postgres(address: Address) -> bool:
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        say(
            "cannot start PostgreSQL: no Docker engine and no postgres binaries "
            "(Debian: apt-get install postgresql)"
        )
        return False
    data = LOCAL / "postgres"
    LOCAL.mkdir(exist_ok=True)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        _chown_for_server(data)
        subprocess.run(
            _as_server_user(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _chown_for_server(data)
    subprocess.run(
        _as_server_user(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-w",
                "-o",
                f"-p {address.port} -k {data} -c listen_addresses={address.host}",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return wait_until_answers(address)


def stop_native_postgres() -> None:
    data = LOCAL / "postgres"
    pg_ctl = _postgres_bin("pg_ctl")
    if pg_ctl and (data / "postmaster.pid").exists():
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), check=False
        )
        say("stopped the native PostgreSQL")


# --- Redis ------------------------------------------------------------------


def start_native_redis(address: Address) -> bool:
    server = shutil.which("redis-server")
    if server is None:
        say(
            "cannot start Redis: no Docker engine and no redis-server binary "
            "(Debian: apt-get install redis-server)"
        )
        return False
    data = LOCAL / "redis"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            server,
            "--bind",
            address.host,
            "--port",
            str(address.port),
            "--daemonize",
            "yes",
            "--dir",
            str(data),
            "--pidfile",
            str(data / "redis.pid"),
            "--logfile",
            str(data / "redis.log"),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    return wait_until_answers(address)


def stop_by_pidfile(pidfile: Path, name: str) -> None:
    """SIGTERM the process a pidfile names, if it still runs, and remove the file."""
    if not pidfile.exists():
        return
    try:
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        say(f"stopped the native {name}")
    except (ProcessLookupError, ValueError):
        pass
    pidfile.unlink(missing_ok=True)


def stop_native_redis() -> None:
    stop_by_pidfile(LOCAL / "redis" / "redis.pid", "Redis")


# --- observability (`up` only) ----------------------------------------------

PROMETHEUS = Address("127.0.0.1", 9090)
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def start_native_prometheus(metrics_port: int) -> None:
    """A native prometheus scraping the service on this host, if the binary exists."""
    if answers(PROMETHEUS):
        say(f"Prometheus answers at {PROMETHEUS}: using it")
        return
    binary = shutil.which("prometheus")
    if binary is None:
        say(
            "cannot start Prometheus: no Docker engine and no prometheus binary "
            "(Debian: apt-get install prometheus)"
        )
        return
    data = LOCAL / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    config = data / "prometheus.yml"
    config.write_text(yaml.safe_dump(native_prometheus_config(metrics_port), sort_keys=False))
    with (data / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data / 'tsdb'}",
                f"--web.listen-address={PROMETHEUS}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    (data / "prometheus.pid").write_text(str(process.pid))
    if wait_until_answers(PROMETHEUS):
        say(f"Prometheus is up at http://{PROMETHEUS} (scraping 127.0.0.1:{metrics_port})")
    else:
        say(f"Prometheus did not come up; see {data / 'prometheus.log'}")


def native_prometheus_config(metrics_port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with only its host targets, on 127.0.0.1.

    The service's target takes the configured ``/metrics`` port.
    """
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for job in config["scrape_configs"]:
        job["static_configs"] = [
            {
                **group,
                "targets": [
                    target.replace("host.docker.internal:", "127.0.0.1:").replace(
                        ":7070", f":{metrics_port}"
                    )
                    for target in group["targets"]
                ],
            }
            for group in job["static_configs"]
            if group.get("labels", {}).get("runs_on") == "host"
        ]
    return config


def stop_native_prometheus() -> None:
    stop_by_pidfile(LOCAL / "prometheus" / "prometheus.pid", "Prometheus")


def observability_natively() -> None:
    """Without Docker: Prometheus from its binary; Jaeger and Grafana need Docker."""
    start_native_prometheus(load_settings().metrics.port)
    say("not started: Jaeger (traces, UI on :16686) and Grafana (dashboards on :3000) need Docker")


# --- commands ---------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    name: str
    address: Address
    setting: str
    default: Address

    @property
    def chosen_by_the_user(self) -> bool:
        return self.address != self.default


def stores() -> list[Store]:
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"local-stack: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    return [
        Store(
            "PostgreSQL",
            address_of(settings.postgres.dsn.get_secret_value(), 5432),
            "APP_POSTGRES__DSN",
            address_of(PostgresSettings().dsn.get_secret_value(), 5432),
        ),
        Store(
            "Redis",
            address_of(settings.redis.url.get_secret_value(), 6379),
            "APP_REDIS__URL",
            address_of(RedisSettings().url.get_secret_value(), 6379),
        ),
    ]


NATIVE_STARTERS = {"PostgreSQL": start_native_postgres, "Redis": start_native_redis}

# The compose services `make local` starts, and the host ports each publishes.
COMPOSE_PORTS = {
    "postgres": (5432,),
    "redis": (6379,),
    "jaeger": (4317, 16686),
    "prometheus": (PROMETHEUS.port,),
    "grafana": (3000,),
}


def compose_plugin_exists() -> bool:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)  # noqa: S607
    return probe.returncode == 0


def compose_up() -> bool:
    """``docker compose up`` for every service whose host port is free; the others answer."""
    if not compose_plugin_exists():
        say(
            "the Docker engine runs but the compose plugin is missing "
            "(https://docs.docker.com/compose/install/); starting native servers instead"
        )
        return False
    services = []
    for service, ports in COMPOSE_PORTS.items():
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


def refuse_chosen_addresses(missing: list[Store]) -> bool:
    """Report addresses the user chose that do not answer; True when there was one."""
    chosen = [store for store in missing if store.chosen_by_the_user]
    for store in chosen:
        say(
            f"{store.name} does not answer at {store.address}, the address {store.setting} "
            f"names: nothing started (start it there, or unset {store.setting} and run "
            "`make local` for the default one)"
        )
    return bool(chosen)


def up(only_missing: bool) -> int:
    missing = [store for store in stores() if not answers(store.address)]
    for store in stores():
        if store not in missing:
            say(f"{store.name} answers at {store.address}: using it")
    if only_missing and refuse_chosen_addresses(missing):
        return 1
    if only_missing and not missing:
        return 0
    if docker_engine_runs() and compose_up():
        return 0
    failed = False
    if not only_missing:
        observability_natively()
    for store in missing:
        name, address = store.name, store.address
        if not answers(address):
            say(f"{name} does not answer at {address}: starting a native one (data in .local/)")
            if NATIVE_STARTERS[name](address):
                say(f"{name} is up at {address}")
            else:
                say(f"{name} could not be started at {address}")
                failed = True
    return 1 if failed else 0


def down() -> int:
    """Stop the compose stack (where it can have run) and whatever native servers `up` started."""
    if docker_engine_runs() and compose_plugin_exists():
        result = subprocess.run(["docker", "compose", "down"], cwd=ROOT, check=False)  # noqa: S607
        if result.returncode != 0:
            return result.returncode
    stop_native_postgres()
    stop_native_redis()
    stop_native_prometheus()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "ensure", "down"])
    arguments = parser.parse_args()
    if arguments.command == "down":
        return down()
    return up(only_missing=arguments.command == "ensure")


if __name__ == "__main__":
    sys.exit(main())
