"""Turn redis-py's failures into ``StoreUnavailable``, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from app.adapters.store_states import store_unavailable
from app.domain.errors import Store


@contextmanager
def redis_errors() -> Iterator[None]:
    """Re-raise connection, timeout and server errors as ``StoreUnavailable``."""
    try:
        yield
    except (RedisError, OSError, TimeoutError) as err:
        raise store_unavailable(Store.REDIS, err) from err
