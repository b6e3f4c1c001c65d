"""Turn asyncpg's failures into domain errors, in one place for every query."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from app.adapters.store_states import store_unavailable
from app.domain.errors import InvalidInput, Store

# Input PostgreSQL refuses as text (a NUL byte, bytes invalid in the encoding)
# is the client's mistake, not ours.
_BAD_INPUT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    asyncpg.exceptions.StringDataRightTruncationError,
    asyncpg.exceptions.InvalidTextRepresentationError,
)

# The server did not answer (in time), or the connection to it broke.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.QueryCanceledError,
    # A server going away tells its idle connections why (a FATAL message)
    # before closing them; a statement started on one in between finds the
    # protocol mid-error: the connection is lost, not our bug.
    asyncpg.exceptions.InternalClientError,
)


@contextmanager
def postgres_errors() -> Iterator[None]:
    """Re-raise bad text as ``InvalidInput`` and lost connections as ``StoreUnavailable``."""
    try:
        yield
    except _BAD_INPUT as err:
        raise InvalidInput("request", "contains text the database cannot store") from err
    except UNAVAILABLE as err:
        raise store_unavailable(Store.POSTGRESQL, err) from err
