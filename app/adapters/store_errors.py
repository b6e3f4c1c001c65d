"""How a store library's errors read: the store is unavailable, or our command is wrong.

Each adapter package keeps a table from its library's exception classes to a
:class:`Failure` (``app/adapters/redis/errors.py``, ``app/adapters/postgres/errors.py``),
looked up by the error's MRO, the nearest class first, as httpx maps each
library error to the most specific one. Both the breaker (``StoreStates``) and
the translation into domain errors read the same table, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum

from app.domain.errors import Store, StoreFault, StoreUnavailable


class Failure(Enum):
    """What a store's error says about the store."""

    #: It did not answer (in time), lost the connection, or is failing over: retry later.
    UNAVAILABLE = "unavailable"
    #: It answered that the command is wrong (a script, a type, a query): our bug.
    FAULT = "fault"


FailureTable = Mapping[type[BaseException], Failure]


def failure_of(table: FailureTable, error: BaseException) -> Failure | None:
    """The failure ``error`` is, by its nearest class in ``table``; None if none is there.

    An error raised *from* one that says the store is unavailable (a client
    that wraps "no node answers" in a general class) is unavailable too.
    """
    failure = _row(table, error)
    cause = error.__cause__
    if failure is Failure.FAULT and cause is not None and _row(table, cause) is Failure.UNAVAILABLE:
        return Failure.UNAVAILABLE
    return failure


def _row(table: FailureTable, error: BaseException) -> Failure | None:
    for cls in type(error).__mro__:
        failure = table.get(cls)
        if failure is not None:
            return failure
    return None


def unavailable_in(table: FailureTable) -> Callable[[BaseException], bool]:
    """The test the breaker applies: does ``error`` say the store is unavailable?"""
    return lambda error: failure_of(table, error) is Failure.UNAVAILABLE


@contextmanager
def translated(store: Store, table: FailureTable) -> Iterator[None]:
    """Re-raise each error ``table`` knows as ``StoreUnavailable`` or ``StoreFault``.

    The domain error names the store and the error's class only: a library's
    message may carry the server's address or a key. Errors the table does
    not know (the adapters' own domain errors) pass unchanged.
    """
    try:
        yield
    except Exception as err:
        failure = failure_of(table, err)
        if failure is Failure.UNAVAILABLE:
            raise StoreUnavailable(store, type(err).__name__) from err
        if failure is Failure.FAULT:
            raise StoreFault(store, type(err).__name__) from err
        raise
