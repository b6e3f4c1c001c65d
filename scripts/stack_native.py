"""Native PostgreSQL, Redis and Prometheus for ``make local`` where no Docker engine runs.

Their data lives under ``.local/`` (git-ignored); each server's own control tool
(pg_ctl, redis-server) does the real work, and ``down`` stops them again.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import yaml

from scripts.stack_addresses import LOCAL, ROOT, Address, answers, say, wait_until_answers

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


# --- Prometheus (`up` only) -------------------------------------------------

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
