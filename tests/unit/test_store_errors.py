"""Each store library's errors read as the store unavailable or our command wrong.

Every exception class of redis-py and asyncpg has a row in its adapter's table
(an upgrade that adds one fails here until someone decides what it means);
the breaker and the translation into domain errors read the same rows.
"""

from __future__ import annotations

import inspect
from types import ModuleType

import asyncpg.exceptions as pg
import grpc
import pytest
import redis.exceptions as redis_exceptions

from app.adapters.postgres.errors import POSTGRES_FAILURES, postgres_errors
from app.adapters.redis.errors import REDIS_FAILURES, redis_errors, redis_unavailable, reply_code
from app.adapters.store_errors import Failure, failure_of
from app.adapters.store_states import StoreStates
from app.domain.errors import InvalidCredentials, InvalidInput, Store, StoreFault, StoreUnavailable
from app.grpc.errors import INTERNAL_MESSAGE, rich_status_for, status_for


def _exception_classes(module: ModuleType) -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__.startswith(module.__name__)
    ]


def _sqlstate_class(cls: type[BaseException]) -> type[BaseException]:
    """The class of asyncpg's that stands for ``cls``'s SQLSTATE class (``42``, ``08``…)."""
    for ancestor in cls.__mro__:
        if pg.PostgresError in ancestor.__bases__:
            return ancestor
    return cls


def test_every_redis_exception_class_has_its_own_row():
    classes = _exception_classes(redis_exceptions)
    assert len(classes) > 30
    assert [cls.__name__ for cls in classes if cls not in REDIS_FAILURES] == []


def test_every_asyncpg_error_class_and_sqlstate_class_has_a_row():
    # asyncpg logs PostgreSQL's warnings and notices, it never raises them.
    errors = [cls for cls in _exception_classes(pg) if not issubclass(cls, Warning)]
    assert len(errors) > 200
    unlisted = {_sqlstate_class(cls).__name__ for cls in errors} - {
        cls.__name__ for cls in POSTGRES_FAILURES
    }
    assert unlisted == set()


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (redis_exceptions.ConnectionError("refused"), Failure.UNAVAILABLE),
        (redis_exceptions.TimeoutError("timed out"), Failure.UNAVAILABLE),
        (ConnectionResetError(), Failure.UNAVAILABLE),
        (redis_exceptions.BusyLoadingError("loading"), Failure.UNAVAILABLE),
        (redis_exceptions.ReadOnlyError("replica"), Failure.UNAVAILABLE),
        (redis_exceptions.MasterDownError("failing over"), Failure.UNAVAILABLE),
        (redis_exceptions.TryAgainError("resharding"), Failure.UNAVAILABLE),
        (redis_exceptions.ClusterDownError("CLUSTERDOWN"), Failure.UNAVAILABLE),
        (redis_exceptions.MovedError("3999 127.0.0.1:6381"), Failure.UNAVAILABLE),
        (redis_exceptions.AskError("3999 127.0.0.1:6381"), Failure.UNAVAILABLE),
        (redis_exceptions.SlotNotCoveredError("Slot 3999 is not covered"), Failure.UNAVAILABLE),
        (redis_exceptions.ClusterCrossSlotError("CROSSSLOT"), Failure.FAULT),
        (
            redis_exceptions.RedisClusterException("all keys must map to the same slot"),
            Failure.FAULT,
        ),
        (redis_exceptions.ResponseError("WRONGTYPE Operation against a key"), Failure.FAULT),
        (redis_exceptions.ResponseError("ERR user_script:1: Script attempted"), Failure.FAULT),
        (redis_exceptions.NoScriptError("No matching script"), Failure.FAULT),
        (redis_exceptions.DataError("Invalid input of type: 'dict'"), Failure.FAULT),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, Exception) else value.name,
)
def test_redis_errors_read_as_an_outage_or_a_bug(error, failure):
    assert failure_of(REDIS_FAILURES, error) is failure


def test_a_cluster_client_error_raised_from_a_connection_error_reads_as_an_outage():
    try:
        try:
            raise redis_exceptions.ConnectionError("refused")
        except redis_exceptions.ConnectionError as refused:
            raise redis_exceptions.RedisClusterException("cannot be connected") from refused
    except redis_exceptions.RedisClusterException as error:
        assert failure_of(REDIS_FAILURES, error) is Failure.UNAVAILABLE
        assert redis_unavailable(error)


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (pg.TooManyConnectionsError("too many"), Failure.UNAVAILABLE),
        (pg.AdminShutdownError("terminating"), Failure.UNAVAILABLE),
        (pg.CannotConnectNowError("starting up"), Failure.UNAVAILABLE),
        (pg.ConnectionDoesNotExistError("closed"), Failure.UNAVAILABLE),
        (pg.QueryCanceledError("statement timeout"), Failure.UNAVAILABLE),
        (pg.InterfaceError("connection is closed"), Failure.UNAVAILABLE),
        (pg.UndefinedColumnError("column does not exist"), Failure.FAULT),
        (pg.PostgresSyntaxError("syntax error"), Failure.FAULT),
        (pg.UniqueViolationError("duplicate key"), Failure.FAULT),
        (pg.ClientConfigurationError("bad option"), Failure.FAULT),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.name,
)
def test_asyncpg_errors_read_as_an_outage_or_a_bug(error, failure):
    assert failure_of(POSTGRES_FAILURES, error) is failure


def test_a_wrongtype_reply_becomes_a_fault_of_redis_with_its_cause():
    reply = redis_exceptions.ResponseError("WRONGTYPE Operation against a key")
    with pytest.raises(StoreFault) as raised, redis_errors():
        raise reply
    assert (raised.value.store, raised.value.reason) == (Store.REDIS, "ResponseError")
    assert raised.value.__cause__ is reply


def test_a_lost_connection_becomes_redis_unavailable():
    with pytest.raises(StoreUnavailable) as raised, redis_errors():
        raise redis_exceptions.ConnectionError("Connection refused")
    assert (raised.value.store, raised.value.reason) == (Store.REDIS, "ConnectionError")


def test_an_undefined_column_is_a_fault_and_too_many_connections_an_outage():
    with pytest.raises(StoreFault), postgres_errors():
        raise pg.UndefinedColumnError("column does not exist")
    with pytest.raises(StoreUnavailable) as raised, postgres_errors():
        raise pg.TooManyConnectionsError("too many clients")
    assert (raised.value.store, raised.value.reason) == (
        Store.POSTGRESQL,
        "TooManyConnectionsError",
    )


def test_text_the_database_cannot_store_is_still_the_clients_mistake():
    with pytest.raises(InvalidInput), postgres_errors():
        raise pg.CharacterNotInRepertoireError("invalid byte sequence")


def test_an_adapters_own_domain_error_passes_unchanged():
    with pytest.raises(InvalidCredentials), redis_errors(), postgres_errors():
        raise InvalidCredentials()


async def test_a_bug_leaves_the_breaker_closed_and_an_outage_opens_it():
    states = StoreStates(open_seconds=60.0)
    with pytest.raises(redis_exceptions.ResponseError):
        async with states.bounded(Store.REDIS, 1.0, redis_unavailable):
            raise redis_exceptions.ResponseError("WRONGTYPE Operation against a key")
    assert not states.known_down(Store.REDIS)
    with pytest.raises(redis_exceptions.ConnectionError):
        async with states.bounded(Store.REDIS, 1.0, redis_unavailable):
            raise redis_exceptions.ConnectionError("refused")
    assert states.known_down(Store.REDIS)


def test_a_reply_code_is_read_from_the_reply_not_its_text():
    busy = redis_exceptions.ResponseError("BUSYGROUP Consumer Group name already exists")
    assert reply_code(busy) == "BUSYGROUP"
    parsed = redis_exceptions.NoScriptError("No matching script.", status_code="NOSCRIPT")
    assert reply_code(parsed) == "NOSCRIPT"


def test_a_fault_answers_internal_with_the_generic_message():
    fault = StoreFault(Store.REDIS, "ResponseError")
    assert status_for(fault) is grpc.StatusCode.INTERNAL
    assert fault.public_message == INTERNAL_MESSAGE
    assert len(rich_status_for(fault).details) == 1  # its ErrorInfo, nothing about the store
