"""ImportUseCase on fakes: what is imported, what is refused and why, and what a rerun does."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from rich.console import Console

from app.adapters.hash_schemes import StoredHashes
from app.domain.importing import Refused, SourceSession, SourceUser
from app.domain.users import UserStatus
from app.entrypoints.progress import TerminalProgress
from app.usecases.importing import ImportUseCase
from tests.unit.fakes import FakeImportedSessions, FakeUserImports, FakeUsers

BCRYPT = "$2a$04$" + "a" * 53
WHEN = datetime(2021, 5, 6, tzinfo=UTC)


def row(email: str, **fields: str) -> SourceUser:
    user_id = uuid.uuid4()
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password_hash": BCRYPT,
        "role": "user",
        **fields,
    }
    return SourceUser(
        reference=f"user {user_id}",
        id=user_id,
        email=email,
        avatar=None,
        created_at=WHEN,
        updated_at=WHEN,
        **values,
    )


class Rows:
    """A source of fixed batches."""

    def __init__(self, *batches: list[SourceUser | Refused]) -> None:
        self._batches = batches

    async def count(self) -> int | None:
        return sum(len(batch) for batch in self._batches)

    async def batches(self) -> AsyncIterator[list[SourceUser | Refused]]:
        for batch in self._batches:
            yield batch


class Sessions:
    def __init__(self, *sessions: SourceSession) -> None:
        self._sessions = list(sessions)

    async def batches(self) -> AsyncIterator[list[SourceSession | Refused]]:
        yield list(self._sessions)


class Counted:
    def __init__(self) -> None:
        self.totals: list[tuple[str, int | None]] = []
        self.counts: list[int] = []

    def started(self, what: str, total: int | None) -> None:
        self.totals.append((what, total))

    def advanced(self, count: int) -> None:
        self.counts.append(count)


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest.fixture
def sessions() -> FakeImportedSessions:
    return FakeImportedSessions()


@pytest.fixture
def importing(users, sessions) -> ImportUseCase:
    return ImportUseCase(FakeUserImports(users), StoredHashes(), users, sessions)


async def test_of_two_rows_with_one_address_the_first_is_imported_and_the_second_named(
    importing, users
):
    first, second = row("kate@example.com"), row("KATE@example.com ")
    report = await importing.import_users(Rows([first], [second]), Counted(), dry_run=False)
    assert report.imported == 1
    assert report.refused == [
        Refused(second.reference, f"email: same address as user {first.id}, earlier")
    ]
    assert list(users.rows) == [first.id]


async def test_rows_are_refused_with_the_field_and_rule_they_break(importing, users):
    rows: list[SourceUser | Refused] = [
        row("a@example.com", role="superuser"),
        row("b@example.com", password_hash="md5:abc"),
        row("c@example.com", last_name="  "),
    ]
    report = await importing.import_users(Rows(rows), Counted(), dry_run=False)
    assert [refused.reason for refused in report.refused] == [
        "role: must be 'user', 'admin' or 'service'",
        "password_hash: is not an argon2 or bcrypt hash",
        "last_name: is required",
    ]
    assert users.rows == {}


async def test_a_dry_run_reports_the_same_and_stores_nothing(importing, users):
    source = Rows([row("a@example.com"), row("b@example.com")])
    dry = await importing.import_users(source, Counted(), dry_run=True)
    assert (dry.imported, dry.present, users.rows) == (2, 0, {})
    real = await importing.import_users(source, Counted(), dry_run=False)
    again = await importing.import_users(source, Counted(), dry_run=False)
    assert (real.imported, again.imported, again.present) == (2, 0, 2)
    assert again.changed_nothing and not real.changed_nothing


async def test_progress_is_told_the_total_then_each_batch(importing):
    progress = Counted()
    await importing.import_users(
        Rows([row("a@example.com"), row("b@example.com")], [row("c@example.com")]),
        progress,
        dry_run=False,
    )
    assert (progress.totals, progress.counts) == ([("users", 3)], [2, 1])


async def test_sessions_of_active_users_here_are_adopted_under_their_epoch_once(
    importing, users, sessions
):
    active, disabled = row("a@example.com"), row("b@example.com")
    await importing.import_users(Rows([active, disabled]), Counted(), dry_run=False)
    principal, password_hash = users.rows[disabled.id]
    users.rows[disabled.id] = (
        type(principal)(principal.user, UserStatus.DISABLED, 2, 1),
        password_hash,
    )
    source = Sessions(
        SourceSession("s1", "id-1", active.id, 60.0),
        SourceSession("s2", "id-2", disabled.id, 60.0),
        SourceSession("s3", "id-3", uuid.uuid4(), None),
    )
    report = await importing.import_users(Rows(), Counted(), dry_run=False)
    await importing.import_sessions(source, Counted(), report)
    assert sessions.adopted == {"id-1": 0}
    assert report.refused == [
        Refused("s2", "user_id: user disabled"),
        Refused("s3", "user_id: user not here"),
    ]
    await importing.import_sessions(source, Counted(), report)
    assert (report.sessions_imported, report.sessions_present) == (1, 1)


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_is_drawn_only_on_a_terminal(terminal):
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=80)
    with TerminalProgress(console) as progress:
        progress.started("users", 4)
        progress.advanced(4)
    assert ("importing users" in out.getvalue()) is terminal
