"""The composition root: composes only (the lifecycle is in :mod:`app.lifecycle`).

``open_resources`` is the one owner of a process's resources (telemetry, the
stores' clients, the hasher); ``migrate`` is a step of its own, before it.
``build_application`` turns a :class:`~app.config.Settings` into those
resources, adapters, use cases and the gRPC server, with keyword overrides,
typed to the domain's ports, for what tests and benchmarks swap (the password
hasher, the span exporter, the clock, the id source). ``build_use_cases``
composes the use cases from their ports, the adapters of :func:`build_ports`
here and the fakes in the unit tests. The entry points and the tests both go
through it, so what is tested is what is served.
"""

from app.bootstrap.event_processes import (
    build_audit_worker,
    build_relay,
    build_relay_process,
    consumer_options,
    event_streams,
)
from app.bootstrap.recovery import password_policy
from app.bootstrap.resources import Overrides, migrate, migrate_if_asked, open_resources
from app.bootstrap.service import (
    build_application,
    build_health,
    build_servicer,
    edge_layers,
)
from app.bootstrap.store_clients import (
    build_cache_redis,
    build_password_hasher,
    build_pool,
    build_redis,
)
from app.bootstrap.use_cases import (
    Ports,
    UseCases,
    build_ports,
    build_throttle,
    build_use_cases,
)

__all__ = [
    "Overrides",
    "Ports",
    "UseCases",
    "build_application",
    "build_audit_worker",
    "build_cache_redis",
    "build_health",
    "build_password_hasher",
    "build_pool",
    "build_ports",
    "build_redis",
    "build_relay",
    "build_relay_process",
    "build_servicer",
    "build_throttle",
    "build_use_cases",
    "consumer_options",
    "edge_layers",
    "event_streams",
    "migrate",
    "migrate_if_asked",
    "open_resources",
    "password_policy",
]
