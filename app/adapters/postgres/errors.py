"""asyncpg's errors, each read as the store unavailable or our query wrong, in one table.

PostgreSQL groups its errors in SQLSTATE classes (the code's first two
characters) and asyncpg gives each class a base exception: the table lists
every class (a test fails when a new one is not), and asyncpg's own client
errors. Errors an adapter expects (a unique violation: ``EmailTaken``) are
handled inside the block, before translating.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg.exceptions as pg

from app.adapters.store_errors import Failure, FailureTable, translated, unavailable_in
from app.domain.errors import InvalidInput, Store

UNAVAILABLE, FAULT = Failure.UNAVAILABLE, Failure.FAULT

# Input PostgreSQL refuses as text (a NUL byte, bytes invalid in the encoding)
# is the client's mistake, not ours.
_BAD_INPUT = (
    pg.CharacterNotInRepertoireError,
    pg.UntranslatableCharacterError,
    pg.StringDataRightTruncationError,
    pg.InvalidTextRepresentationError,
)

POSTGRES_FAILURES: FailureTable = {
    # The connection could not be made or broke, or an answer did not come in time.
    OSError: UNAVAILABLE,
    TimeoutError: UNAVAILABLE,
    pg.PostgresConnectionError: UNAVAILABLE,  # 08
    pg.InterfaceError: UNAVAILABLE,  # the connection closed under the call
    # A server going away tells its idle connections why (a FATAL message)
    # before closing them; a statement started on one in between finds the
    # protocol mid-error: the connection is lost, not our bug.
    pg.InternalClientError: UNAVAILABLE,
    pg.ProtocolError: UNAVAILABLE,
    pg.FatalPostgresError: UNAVAILABLE,
    pg.TargetServerAttributeNotMatched: UNAVAILABLE,  # a standby where a primary was asked for
    pg.InsufficientResourcesError: UNAVAILABLE,  # 53: too many connections, out of memory, disk
    pg.OperatorInterventionError: UNAVAILABLE,  # 57: shutting down, starting, query cancelled
    pg.PostgresSystemError: UNAVAILABLE,  # 58: I/O errors
    # Refused at connect: nothing can be served until the settings are right.
    pg.InvalidAuthorizationSpecificationError: UNAVAILABLE,  # 28
    pg.InvalidCatalogNameError: UNAVAILABLE,  # 3D: no such database
    # The database answered: the query, its data or the schema is not what the code expects.
    pg.PostgresError: FAULT,
    pg.ClientConfigurationError: FAULT,
    pg.UnsupportedClientFeatureError: FAULT,
    pg.UnsupportedServerFeatureError: FAULT,
    pg.OutdatedSchemaCacheError: FAULT,  # the schema changed under a running service
    pg.CardinalityViolationError: FAULT,  # 21
    pg.CaseNotFoundError: FAULT,  # 20
    pg.ConfigFileError: FAULT,  # F0
    pg.DataError: FAULT,  # 22, but for the text refused above
    pg.DependentPrivilegeDescriptorsStillExistError: FAULT,  # 2B
    pg.DiagnosticsError: FAULT,  # 0Z
    pg.ExternalRoutineError: FAULT,  # 38
    pg.ExternalRoutineInvocationError: FAULT,  # 39
    pg.FDWError: FAULT,  # HV
    pg.FeatureNotSupportedError: FAULT,  # 0A
    pg.IntegrityConstraintViolationError: FAULT,  # 23, but for those the adapters expect
    pg.InternalServerError: FAULT,  # XX: corrupted data or index
    pg.InvalidArgumentForXqueryError: FAULT,  # 10
    pg.InvalidCursorNameError: FAULT,  # 34
    pg.InvalidCursorStateError: FAULT,  # 24
    pg.InvalidGrantorError: FAULT,  # 0L
    pg.InvalidRoleSpecificationError: FAULT,  # 0P
    pg.InvalidSQLStatementNameError: FAULT,  # 26
    pg.InvalidSchemaNameError: FAULT,  # 3F
    pg.InvalidTransactionInitiationError: FAULT,  # 0B
    pg.InvalidTransactionStateError: FAULT,  # 25
    pg.InvalidTransactionTerminationError: FAULT,  # 2D
    pg.LocatorError: FAULT,  # 0F
    pg.ObjectNotInPrerequisiteStateError: FAULT,  # 55
    pg.PLPGSQLError: FAULT,  # P0
    pg.ProgramLimitExceededError: FAULT,  # 54
    pg.SQLRoutineError: FAULT,  # 2F
    pg.SQLStatementNotYetCompleteError: FAULT,  # 03
    pg.SavepointError: FAULT,  # 3B
    pg.SnapshotTooOldError: FAULT,  # 72
    pg.SyntaxOrAccessError: FAULT,  # 42: syntax, undefined column or table, privileges
    pg.TransactionRollbackError: FAULT,  # 40: deadlock, serialization: our locking is wrong
    pg.TriggeredActionError: FAULT,  # 09
    pg.TriggeredDataChangeViolationError: FAULT,  # 27
    pg.WithCheckOptionViolationError: FAULT,  # 44
}

#: Whether an asyncpg error says PostgreSQL is unavailable (the breaker's test).
postgres_unavailable = unavailable_in(POSTGRES_FAILURES)


@contextmanager
def postgres_errors() -> Iterator[None]:
    """Re-raise bad text as ``InvalidInput``, the rest as ``StoreUnavailable`` or ``StoreFault``."""
    with translated(Store.POSTGRESQL, POSTGRES_FAILURES):
        try:
            yield
        except _BAD_INPUT as err:
            raise InvalidInput("request", "contains text the database cannot store") from err
