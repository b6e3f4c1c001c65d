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

``up`` also starts somewhere to read mail at 127.0.0.1:1025 (Mailpit with
Docker, else the sink of ``mail_sink.py``); ``ensure`` does when
``APP_MAIL__SMTP_URL`` names that address, as ``make run`` sets it.

``ensure`` (``make run``, ``make test``) starts a server only for the default
address: an address the user chose (environment or YAML) that does not answer
is reported and nothing is started, so a typo never becomes an empty database.
A setting that cannot be read exits 2 with one line naming it.

Written by hand because it is glue between the settings, docker compose and
the native servers' own control tools (pg_ctl, redis-server), which do the
real work. This module reads the settings and decides; the compose path is in
``stack_compose.py``, the native servers in ``stack_native.py``, addresses and
paths in ``stack_addresses.py`` (siblings, imported through the repository root).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import ConfigError, PostgresSettings, RedisSettings, load_settings  # noqa: E402
from scripts.mail_sink import (  # noqa: E402
    LOCAL_MAIL_SINK,
    names_the_local_sink,
    start_native_mail_sink,
    stop_native_mail_sink,
)
from scripts.stack_addresses import Address, address_of, answers, say  # noqa: E402
from scripts.stack_compose import compose_down, compose_up, docker_engine_runs  # noqa: E402
from scripts.stack_native import (  # noqa: E402
    start_native_postgres,
    start_native_prometheus,
    start_native_redis,
    stop_native_postgres,
    stop_native_prometheus,
    stop_native_redis,
)


def observability_natively() -> None:
    """Without Docker: Prometheus from its binary; Jaeger and Grafana need Docker."""
    start_native_prometheus(load_settings().metrics.port)
    say("not started: Jaeger (traces, UI on :16686) and Grafana (dashboards on :3000) need Docker")


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


def start_mail_sink() -> bool:
    """Somewhere to read mail at the local SMTP address: Mailpit with Docker, else aiosmtpd."""
    if answers(LOCAL_MAIL_SINK):
        say(f"an SMTP server answers at {LOCAL_MAIL_SINK}: mail goes there")
        return True
    if docker_engine_runs() and compose_up(only={"mailpit"}):
        return True
    if start_native_mail_sink():
        say(f"the mail sink is up at {LOCAL_MAIL_SINK}: each message in .local/mail/ (`make mail`)")
        return True
    say(f"the mail sink could not be started at {LOCAL_MAIL_SINK}; see .local/mail-sink/")
    return False


def mail_goes_to_the_local_sink() -> bool:
    return names_the_local_sink(load_settings().mail.smtp_url)


def up(only_missing: bool) -> int:
    """Start the stores (and with ``up`` the rest); then the mail sink where mail goes to it."""
    status = start_stores(only_missing)
    if status == 0 and (not only_missing or mail_goes_to_the_local_sink()):
        status = 0 if start_mail_sink() else 1
    return status


def start_stores(only_missing: bool) -> int:
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
            if NATIVE_STARTERS[name](address):
                say(f"{name} started at {address} (native; data in .local/)")
            else:
                say(f"{name} does not answer at {address} and could not be started")
                failed = True
    return 1 if failed else 0


def down() -> int:
    """Stop the compose stack (where it can have run) and whatever native servers `up` started."""
    status = compose_down()
    if status != 0:
        return status
    stop_native_postgres()
    stop_native_redis()
    stop_native_prometheus()
    stop_native_mail_sink()
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
