"""The composition root: composes only (the lifecycle is in :mod:`app.lifecycle`).

``build_application`` turns a :class:`~app.config.Settings` into pools,
clients, adapters, use cases and the gRPC server, with keyword overrides for
what tests and benchmarks swap (the password hasher, the span exporter).
``build_use_cases`` composes the use cases from their ports, the adapters of
:func:`build_ports` here and the fakes in the unit tests. The entry points and
the tests both go through it, so what is tested is what is served.
"""

from app.bootstrap.clients import (
    build_cache_redis,
    build_clients,
    build_password_hasher,
    build_redis,
)
from app.bootstrap.events import (
    build_audit_worker,
    build_relay,
    build_relay_process,
    consumer_options,
)
from app.bootstrap.service import (
    build_application,
    build_health,
    build_servicer,
    edge_interceptors,
    password_policy,
)
from app.bootstrap.use_cases import (
    Ports,
    UseCases,
    build_ports,
    build_throttle,
    build_use_cases,
    events_stream_key,
)

__all__ = [
    "Ports",
    "UseCases",
    "build_application",
    "build_audit_worker",
    "build_cache_redis",
    "build_clients",
    "build_health",
    "build_password_hasher",
    "build_ports",
    "build_redis",
    "build_relay",
    "build_relay_process",
    "build_servicer",
    "build_throttle",
    "build_use_cases",
    "consumer_options",
    "edge_interceptors",
    "events_stream_key",
    "password_policy",
]
