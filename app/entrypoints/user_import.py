"""``python -m app import go --dsn DSN [--redis URL]`` and ``python -m app import jsonl FILE``:
bring users over from the Go service (its own database, and its live sessions) or a file.

Each prints one line per row refused, with the reason, then a summary; with
``--dry-run`` it says what it would do and writes nothing. Exit status: 0
when every row is here (imported now or before), 1 when some were refused,
2 for bad arguments (an unreadable file, a malformed DSN or URL, bad
settings), 69 when a store or the source does not answer (as ``admin``).
See docs/moving-from-go.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TextIO

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.jsonl_users import JsonLinesUsers
from app.adapters.postgres.go_users import GoUserTable
from app.adapters.redis.go_sessions import GoSessionKeys
from app.bootstrap import migrate_if_asked, open_resources
from app.bootstrap.importing import build_import
from app.config import ConfigError, Settings, load_settings
from app.domain.errors import StoreUnavailable
from app.domain.importing import UserSource
from app.entrypoints.progress import TerminalProgress
from app.observability.setup.logging import configure_logging
from app.observability.setup.providers import run_then_stop_telemetry
from app.usecases.importing import ImportProgress, ImportReport

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE

PROGRAM = "python -m app import"
SOURCE_TIMEOUT_SECONDS = 10.0


class BadArguments(Exception):
    """An argument that cannot be used as given (exit 2); the message names it, not its secret."""


@asynccontextmanager
async def _go_source(dsn: str, batch_size: int) -> AsyncIterator[GoUserTable]:
    try:
        connection = await asyncpg.connect(dsn, timeout=SOURCE_TIMEOUT_SECONDS)
    except (ValueError, asyncpg.ClientConfigurationError) as err:
        raise BadArguments("--dsn: not a usable PostgreSQL DSN") from err
    try:
        yield GoUserTable(connection, batch_size=batch_size)
    finally:
        await connection.close()


def _jsonl_source(path: Path, batch_size: int) -> JsonLinesUsers:
    if not path.is_file():
        raise BadArguments(f"{path}: no such file")
    return JsonLinesUsers(path, batch_size=batch_size)


def _go_sessions(url: str) -> Redis:
    try:
        return Redis.from_url(url, socket_timeout=SOURCE_TIMEOUT_SECONDS)
    except ValueError as err:
        raise BadArguments("--redis: not a usable Redis URL") from err


async def import_users(
    settings: Settings, arguments: argparse.Namespace, progress: ImportProgress
) -> ImportReport:
    """Run the import that ``arguments`` ask for; its report."""
    await migrate_if_asked(settings)
    async with AsyncExitStack() as stack:
        source: UserSource
        if arguments.source == "go":
            source = await stack.enter_async_context(
                _go_source(arguments.dsn, arguments.batch_size)
            )
        else:
            source = _jsonl_source(Path(arguments.file), arguments.batch_size)
        go_redis = None
        if getattr(arguments, "redis", None):
            go_redis = _go_sessions(arguments.redis)
            stack.push_async_callback(go_redis.aclose)
        resources = await stack.enter_async_context(open_resources(settings, hashing=False))
        importing = build_import(resources)
        report = await importing.import_users(source, progress, dry_run=arguments.dry_run)
        if go_redis is not None:
            sessions = GoSessionKeys(go_redis, batch_size=arguments.batch_size)
            await importing.import_sessions(sessions, progress, report)
        return report


def summary(report: ImportReport, with_sessions: bool) -> str:
    """The last line: what was (or, dry, would be) done, and whether anything changed."""
    verb = "would import" if report.dry_run else "imported"
    parts = [f"{verb} {report.imported} user(s)", f"{report.present} already here"]
    if with_sessions:
        parts.append(f"{verb} {report.sessions_imported} session(s)")
        parts.append(f"{report.sessions_present} session(s) already here")
    parts.append(f"{len(report.refused)} refused")
    if report.dry_run:
        tail = "dry run: nothing was written"
    elif report.changed_nothing:
        tail = "nothing changed"
    else:
        tail = "done"
    return f"{', '.join(parts)}; {tail}"


def write_report(report: ImportReport, with_sessions: bool, out: TextIO) -> int:
    """Print each refusal and the summary; the exit status."""
    for refused in report.refused:
        print(f"refused {refused.reference}: {refused.reason}", file=out)
    print(summary(report, with_sessions), file=out)
    return EXIT_REFUSED if report.refused else EXIT_OK


async def _run(settings: Settings, arguments: argparse.Namespace) -> ImportReport:
    with TerminalProgress() as progress:
        return await import_users(settings, arguments, progress)


def run(arguments: argparse.Namespace) -> int:
    """``import go`` or ``import jsonl`` with the parsed ``arguments``."""
    try:
        settings = load_settings()
    except ConfigError as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging("WARNING", settings.logging.format)
    try:
        report = run_then_stop_telemetry(_run(settings, arguments))
    except (ConfigError, BadArguments) as err:
        print(f"{PROGRAM}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except StoreUnavailable as err:
        print(f"{PROGRAM}: {err.public_message}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (OSError, asyncpg.PostgresError, RedisError) as err:
        print(
            f"{PROGRAM}: cannot reach a store or the source: {type(err).__name__}", file=sys.stderr
        )
        return EXIT_UNAVAILABLE
    return write_report(report, getattr(arguments, "redis", None) is not None, sys.stdout)
