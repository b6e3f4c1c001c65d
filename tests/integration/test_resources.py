"""One owner of a process's resources: what is opened is closed once, telemetry last."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.bootstrap import (
    Overrides,
    build_application,
    build_ports,
    build_relay_process,
    migrate,
    open_resources,
)
from app.config import Settings
from app.lifecycle import Application
from tests.support.application import make_settings
from tests.support.databases import drop_database
from tests.support.isolation import isolated_settings
from tests.support.passwords import CheapPasswords


class RecordingExporter(InMemorySpanExporter):
    def __init__(self, closed: list[str]) -> None:
        super().__init__()
        self._closed = closed

    def shutdown(self) -> None:
        self._closed.append("telemetry")
        super().shutdown()


class RecordingHasher(CheapPasswords):
    def __init__(self, closed: list[str]) -> None:
        super().__init__()
        self._closing_order = closed

    def close(self) -> None:
        self._closing_order.append("hasher")
        super().close()


class StoppedClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


class CountingIds:
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=1)

    def token(self, size_bytes: int) -> str:
        return "t" * size_bytes


def recorded(closed: list[str], **sections: dict[str, Any]) -> tuple[Settings, Overrides]:
    settings = make_settings(tracing={"enabled": True}, **sections)
    return settings, Overrides(
        passwords=RecordingHasher(closed), span_exporter=RecordingExporter(closed)
    )


async def test_leaving_the_block_closes_the_hasher_and_the_pool_and_telemetry_last(
    application: Application,
) -> None:
    closed: list[str] = []
    settings, overrides = recorded(closed)
    async with open_resources(settings, overrides) as resources:
        assert await resources.pool.fetchval("SELECT 1") == 1
        assert closed == []
    assert closed == ["hasher", "telemetry"]
    assert resources.pool.pool.is_closing()


async def test_a_store_that_cannot_be_reached_leaves_nothing_open() -> None:
    closed: list[str] = []
    settings = make_settings(
        tracing={"enabled": True},
        postgres={
            "dsn": "postgresql://postgres@127.0.0.1:1/nowhere",
            "migrate_on_start": False,
            "connect_timeout_seconds": 1.0,
        },
    )
    hasher = RecordingHasher(closed)
    with pytest.raises(OSError):
        await build_application(settings, passwords=hasher, span_exporter=RecordingExporter(closed))
    # The hasher was not reached, so it is still the caller's to close.
    assert closed == ["telemetry"]
    hasher.close()


async def test_opening_never_migrates_that_is_a_step_of_its_own() -> None:
    settings = isolated_settings("resources", uuid.uuid4().hex[:12])
    assert settings.postgres.migrate_on_start
    try:
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            async with open_resources(settings, hashing=False):
                pass
        await migrate(settings)
        async with open_resources(settings, hashing=False) as resources:
            assert await resources.pool.fetchval("SELECT count(*) FROM users") == 0
    finally:
        await drop_database(settings.postgres.dsn.get_secret_value())


async def test_the_clock_and_id_source_handed_in_are_the_ports_the_use_cases_get(
    application: Application,
) -> None:
    clock, ids = StoppedClock(), CountingIds()
    settings = make_settings()
    overrides = Overrides(passwords=CheapPasswords(), clock=clock, ids=ids)
    async with open_resources(settings, overrides) as resources:
        ports = build_ports(settings, resources)
    assert ports.clock is clock
    assert ports.ids is ids


async def test_an_events_process_closes_its_resources_when_its_loop_ends(
    application: Application,
) -> None:
    process = await build_relay_process(make_settings())
    assert process.resources.passwords is None
    running = asyncio.create_task(process.run())
    await asyncio.sleep(0)  # the loop starts (a stop before its start is forgotten)
    process.stop()
    await asyncio.wait_for(running, timeout=10)
    assert process.resources.pool.pool.is_closing()
