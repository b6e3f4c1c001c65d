"""redis-py's errors, each read as the store unavailable or our command wrong, in one table.

Every class of ``redis.exceptions`` is listed (a test fails when a new one
is not): an unlisted subclass still takes its nearest listed ancestor's row.
Replies an adapter expects (``BUSYGROUP`` when a consumer group exists) are
handled before translating, by :func:`reply_code`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_exceptions

from app.adapters.store_errors import Failure, FailureTable, translated, unavailable_in
from app.domain.errors import Store

UNAVAILABLE, FAULT = Failure.UNAVAILABLE, Failure.FAULT

REDIS_FAILURES: FailureTable = {
    # The connection could not be made or broke, or a reply did not come in time.
    OSError: UNAVAILABLE,
    TimeoutError: UNAVAILABLE,
    redis_exceptions.ConnectionError: UNAVAILABLE,
    redis_exceptions.TimeoutError: UNAVAILABLE,
    redis_exceptions.MaxConnectionsError: UNAVAILABLE,
    # The server at its maxclients: it refuses new connections until some close.
    redis_exceptions.MaxClientsReachedError: UNAVAILABLE,
    # Refused at connect: nothing can be served until the credentials are right.
    redis_exceptions.AuthenticationError: UNAVAILABLE,
    redis_exceptions.AuthorizationError: UNAVAILABLE,
    redis_exceptions.ExternalAuthProviderError: UNAVAILABLE,
    # Still loading its data set after a restart.
    redis_exceptions.BusyLoadingError: UNAVAILABLE,
    # A reply that cannot be parsed: the connection is out of step, it is dropped.
    redis_exceptions.InvalidResponse: UNAVAILABLE,
    # Failing over: a replica that became read-only, a cluster without a master for a slot.
    redis_exceptions.ReadOnlyError: UNAVAILABLE,
    redis_exceptions.ClusterError: UNAVAILABLE,
    redis_exceptions.ClusterDownError: UNAVAILABLE,
    redis_exceptions.MasterDownError: UNAVAILABLE,
    redis_exceptions.TryAgainError: UNAVAILABLE,
    redis_exceptions.SlotNotCoveredError: UNAVAILABLE,
    # No node of the cluster answered a refresh of its slot map.
    redis_exceptions.RedisClusterUnreachableError: UNAVAILABLE,
    # At maxmemory with nothing to evict: an operator's matter, and it passes.
    redis_exceptions.OutOfMemoryError: UNAVAILABLE,
    # The server answered: the command, its arguments or the key's type is wrong.
    redis_exceptions.RedisError: FAULT,
    redis_exceptions.ResponseError: FAULT,
    redis_exceptions.DataError: FAULT,
    redis_exceptions.NoScriptError: FAULT,
    redis_exceptions.ExecAbortError: FAULT,
    redis_exceptions.ModuleError: FAULT,
    redis_exceptions.NoPermissionError: FAULT,
    redis_exceptions.NoSuchFieldsetError: FAULT,
    redis_exceptions.AuthenticationWrongNumberOfArgsError: FAULT,
    redis_exceptions.WatchError: FAULT,
    redis_exceptions.PubSubError: FAULT,
    redis_exceptions.LockError: FAULT,
    redis_exceptions.LockNotOwnedError: FAULT,
    redis_exceptions.ChildDeadlockedError: FAULT,
    redis_exceptions.IncorrectPolicyType: FAULT,
    # Redirections the cluster client follows itself; one that escapes its
    # retries means slots still moving (a promotion, a resharding): it passes.
    redis_exceptions.AskError: UNAVAILABLE,
    redis_exceptions.MovedError: UNAVAILABLE,
    # Keys of one command or script in different slots: our layout is wrong.
    redis_exceptions.ClusterCrossSlotError: FAULT,
    # The cluster client's own refusals (a command it cannot route). It also
    # raises this class *from* a connection error when no node answers, which
    # reads as unavailable by its cause (see ``failure_of``).
    redis_exceptions.RedisClusterException: FAULT,
    redis_exceptions.CrossSlotTransactionError: FAULT,
    redis_exceptions.InvalidPipelineStack: FAULT,
}

#: Whether a redis-py error says Redis is unavailable (the breaker's test).
redis_unavailable = unavailable_in(REDIS_FAILURES)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Re-raise redis-py's errors as ``StoreUnavailable`` or ``StoreFault``, by the table."""
    with translated(Store.REDIS, REDIS_FAILURES):
        yield


def reply_code(error: redis_exceptions.ResponseError) -> str:
    """The code of an error reply (``BUSYGROUP``, ``WRONGTYPE``): the reply's first word.

    redis-py keeps the code in ``status_code`` for the replies it has a class
    for, and hands the others over whole, code first, as ``ResponseError``.
    """
    if error.status_code:
        return error.status_code
    reply = str(error.args[0]) if error.args else ""
    return reply.split(" ", 1)[0]
