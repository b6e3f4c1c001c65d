"""A database and a Redis key prefix of a run's own, for tests and benchmarks.

A run works in ``user_service_<kind>_<run id>`` on the configured PostgreSQL
server and under ``<kind>:<run id>:`` in the configured Redis (addresses from
the usual settings: ``APP_POSTGRES__DSN``, ``APP_REDIS__URL``), and removes
both when it ends, so runs never see each other or data already there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis

from app.config import Settings
from tests.support.databases import drop_database


def isolated_settings(kind: str, run_id: str, **sections: dict[str, Any]) -> Settings:
    """Settings on the run's own database and key prefix, gRPC on port 0, quiet stores.

    gRPC listens on loopback, stops without a drain delay and limits every
    method to the default concurrency (256), hashing ones included; one client
    (every caller here is 127.0.0.1) may take all of it and the whole hashing queue.

    Keyword arguments override fields of whole sections, e.g.
    ``isolated_settings("test", run_id, sessions={"ttl_seconds": 1})``.
    """
    defaults = Settings(_env_file=None)
    base_dsn = defaults.postgres.dsn.get_secret_value()
    values: dict[str, dict[str, Any]] = {
        "grpc": {
            "host": "127.0.0.1",
            "port": 0,
            "grace_period_seconds": 1.0,
            "drain_seconds": 0,
            # Tests and benchmarks burst hashing calls past production's limit
            # (16 each), all from one address; the limits have tests of their own.
            "method_concurrency": {},
            "method_concurrency_client_share": 1.0,
        },
        "http": {"port": 0},
        "passwords": {"max_waiting_per_client": 128},
        "postgres": {
            "dsn": urlunsplit(urlsplit(base_dsn)._replace(path=f"/user_service_{kind}_{run_id}")),
            # Each run's database is its own, made at its first migration.
            "create_database": True,
        },
        "redis": {"key_prefix": f"{kind}:{run_id}:"},
        "metrics": {"enabled": False, "host": "127.0.0.1", "port": 0},
        "tracing": {"enabled": False, "console_without_collector": False},
        "events": {"relay_enabled": False},
        # The suite's admins do not enrol; the policy has its own tests (see SUITE_MFA).
        "mfa": {"required_roles": []},
    }
    for name, fields in sections.items():
        values.setdefault(name, {}).update(fields)
    # Sections as plain mappings: pydantic validates them into their models.
    return Settings(**values)  # type: ignore[arg-type]


async def remove_run_data(settings: Settings) -> None:
    """Delete the run's Redis keys and drop its database."""
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    try:
        async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}*", count=500):
            await redis.delete(key)
    finally:
        await redis.aclose()
    await drop_database(settings.postgres.dsn.get_secret_value())
