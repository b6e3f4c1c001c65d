"""``python -m app <command>``: one parser for every process and operator command.

Each command's module is imported only when that command runs, so ``health``
(the container's frequent health check) does not load the whole service.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import cast

PROGRAM = "python -m app"

Run = Callable[[argparse.Namespace], int]


def _add_health_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", default="", help="service name ('' is the whole server)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait")
    parser.add_argument(
        "--ca-file", help="with TLS: the CA that signed the server's certificate (PEM)"
    )
    parser.add_argument("--client-cert", help="with mutual TLS: the probe's certificate (PEM)")
    parser.add_argument("--client-key", help="with mutual TLS: the probe's private key (PEM)")


def _add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create",
        help="make a user an admin, creating them if needed (password from a prompt or stdin)",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--first-name", default="Admin")
    create.add_argument("--last-name", default="User")
    clear = actions.add_parser(
        "clear-throttle",
        help="forget the login throttle's state of an account and/or an address",
    )
    clear.add_argument("--email", default="")
    clear.add_argument("--address", default="")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_import_arguments(parser: argparse.ArgumentParser) -> None:
    sources = parser.add_subparsers(dest="source", required=True)
    go = sources.add_parser("go", help="from the Go service's users table (and its sessions)")
    go.add_argument("--dsn", required=True, help="the Go service's PostgreSQL DSN")
    go.add_argument("--redis", help="the Go service's Redis URL: bring its live sessions too")
    jsonl = sources.add_parser("jsonl", help="from a file, one user per line")
    jsonl.add_argument("file")
    for source in (go, jsonl):
        source.add_argument("--dry-run", action="store_true", help="report, write nothing")
        source.add_argument("--batch-size", type=_positive, default=500)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


# command → (help, how its arguments are added); it runs app.entrypoints.<command>.run
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "serve": ("serve gRPC until SIGTERM or SIGINT", _no_arguments),
    "worker": ("project user events into the audit log", _no_arguments),
    "relay": ("publish the outbox to the events stream", _no_arguments),
    "courier": ("send queued mail over SMTP", _no_arguments),
    "migrate": ("create the database if missing, apply migrations", _no_arguments),
    "health": ("exit 0 when the local service reports SERVING", _add_health_arguments),
    "admin": ("manage admins", _add_admin_arguments),
    "import": ("import users from the Go service or a file", _add_import_arguments),
}
# A command whose module is not named after it (``import`` is a keyword).
MODULES = {"import": "user_import"}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="user-service commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, add_arguments) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def module_name(command: str) -> str:
    """The module that runs ``command``."""
    return f"app.entrypoints.{MODULES.get(command, command)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (exit 2 with the usage on a bad one) and run the command; its status."""
    arguments = parser().parse_args(argv)
    module = importlib.import_module(module_name(arguments.command))
    return cast(Run, module.run)(arguments)
