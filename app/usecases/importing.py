"""ImportUseCase: bring users (and their live sessions) over from another service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from app.domain.errors import InvalidInput
from app.domain.importing import (
    HashSchemes,
    ImportedSessions,
    ImportedUser,
    ImportOutcome,
    Refused,
    SessionSource,
    SourceSession,
    SourceUser,
    Stored,
    UserImports,
    UserSource,
    parse_source_user,
)
from app.domain.ports import UserRepository
from app.domain.users import AVATAR_SCHEMES


class ImportProgress(Protocol):
    """Told of each batch as it is done (a progress bar; a test's seam to stop a run)."""

    def started(self, what: str, total: int | None) -> None: ...

    def advanced(self, count: int) -> None: ...


@dataclass
class ImportReport:
    """What an import did (or, dry, would do): counts and every refusal with its reason."""

    dry_run: bool
    imported: int = 0
    present: int = 0
    refused: list[Refused] = field(default_factory=list)
    sessions_imported: int = 0
    sessions_present: int = 0

    @property
    def changed_nothing(self) -> bool:
        return self.imported == 0 and self.sessions_imported == 0


def _refusal(user: ImportedUser, stored: Stored) -> Refused | None:
    other = f" (user {stored.other})" if stored.other else ""
    reasons = {
        ImportOutcome.EMAIL_TAKEN: f"email: another user has the same address{other}",
        ImportOutcome.ID_TAKEN: f"id: already used by another user{other}",
        ImportOutcome.RACED: "a user stored meanwhile took its id or email: run again",
    }
    reason = reasons.get(stored.outcome)
    return None if reason is None else Refused(user.reference, reason)


class ImportUseCase:
    """Users are checked by the service's rules, then stored a batch per transaction.

    Two source rows whose emails share a canonical form are never merged: the
    first in the source's order is imported and the other refused, naming it;
    the same holds against users already here. A rerun leaves every user
    already imported as it is, so an interrupted run is finished by running
    it again.
    """

    def __init__(
        self,
        imports: UserImports,
        schemes: HashSchemes,
        users: UserRepository,
        sessions: ImportedSessions | None = None,
        *,
        avatar_schemes: frozenset[str] = AVATAR_SCHEMES,
    ) -> None:
        self._avatar_schemes = avatar_schemes
        self._imports = imports
        self._schemes = schemes
        self._users = users
        self._sessions = sessions

    async def import_users(
        self, source: UserSource, progress: ImportProgress, *, dry_run: bool
    ) -> ImportReport:
        report = ImportReport(dry_run=dry_run)
        # The first row of each canonical email and id in this run, by reference.
        seen_emails: dict[str, UUID] = {}
        seen_ids: set[UUID] = set()
        progress.started("users", await source.count())
        async for batch in source.batches():
            accepted: list[ImportedUser] = []
            for row in batch:
                parsed = self._parsed(row, seen_emails, seen_ids)
                if isinstance(parsed, Refused):
                    report.refused.append(parsed)
                else:
                    accepted.append(parsed)
            if accepted:
                stored = await self._imports.add_imported(accepted, dry_run=dry_run)
                self._count(report, accepted, stored)
            progress.advanced(len(batch))
        return report

    def _parsed(
        self, row: SourceUser | Refused, seen_emails: dict[str, UUID], seen_ids: set[UUID]
    ) -> ImportedUser | Refused:
        if isinstance(row, Refused):
            return row
        try:
            user = parse_source_user(row, self._schemes, self._avatar_schemes)
        except InvalidInput as err:
            return Refused(row.reference, str(err))
        if user.id in seen_ids:
            return Refused(user.reference, "id: appears earlier in the source")
        first = seen_emails.setdefault(user.canonical_email, user.id)
        if first != user.id:
            return Refused(user.reference, f"email: same address as user {first}, earlier")
        seen_ids.add(user.id)
        return user

    @staticmethod
    def _count(report: ImportReport, users: list[ImportedUser], stored: list[Stored]) -> None:
        for user, outcome in zip(users, stored, strict=True):
            if outcome.outcome is ImportOutcome.IMPORTED:
                report.imported += 1
            elif outcome.outcome is ImportOutcome.PRESENT:
                report.present += 1
            elif (refused := _refusal(user, outcome)) is not None:
                report.refused.append(refused)

    async def import_sessions(
        self, source: SessionSource, progress: ImportProgress, report: ImportReport
    ) -> None:
        """Adopt each live session of a user who is here and active, under their epoch now.

        A session of a user refused or not imported, or disabled, is refused.
        A dry run only counts what would be adopted.
        """
        if self._sessions is None:
            raise RuntimeError("no store for imported sessions was given")
        progress.started("sessions", None)
        async for batch in source.batches():
            for session in batch:
                await self._adopt(session, report)
            progress.advanced(len(batch))

    async def _adopt(self, session: SourceSession | Refused, report: ImportReport) -> None:
        assert self._sessions is not None
        if isinstance(session, Refused):
            report.refused.append(session)
            return
        principal = await self._users.get_principal(session.user_id)
        if principal is None or not principal.active:
            state = "not here" if principal is None else "disabled"
            report.refused.append(Refused(session.reference, f"user_id: user {state}"))
        elif report.dry_run or await self._sessions.adopt(session, principal.sessions_epoch):
            report.sessions_imported += 1
        else:
            report.sessions_present += 1
