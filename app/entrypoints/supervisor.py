"""Several processes serving one port: a supervisor and ``grpc.workers`` workers.

With ``APP_GRPC__WORKERS`` above 1, the service's process becomes a
supervisor. It applies the migrations once, then starts the workers; each
binds the gRPC port with ``SO_REUSEPORT`` (the kernel spreads connections
among them), builds its own pools, clients, hashing threads and telemetry,
and serves ``grpc.health.v1`` for itself. The supervisor serves one
``/metrics`` with every worker's samples labelled ``worker``
(:mod:`app.observability.setup.worker_metrics`).

SIGTERM or SIGINT to the supervisor is passed to every worker, which drains
as a single process does; the supervisor exits 0 once all have stopped
cleanly. A worker that exits on its own (a crash, the OOM killer) makes the
supervisor stop the others and exit 1: the orchestrator restarts the pod,
whereas restarting the worker here would hide a crash loop behind a pod
that looks healthy. A worker whose supervisor is gone (SIGKILL) sees its pipe
close and stops too, so none is left behind.

Workers are started with :mod:`multiprocessing`'s *spawn* context: a fresh
interpreter each (gRPC core's threads do not survive ``fork``), a pipe to
report the worker's metrics port and to tell it its supervisor is gone, and a
sentinel to wait on its exit, without a command line to keep in step with
this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import structlog
from prometheus_client import CollectorRegistry

from app.bootstrap import build_application, migrate_if_asked
from app.config import Settings
from app.entrypoints.runner import Serve, run_process
from app.observability.setup.http_endpoint import MetricsEndpoint
from app.observability.setup.worker_metrics import WorkerMetrics

logger = structlog.get_logger("app.entrypoints.supervisor")

#: The supervisor's exit status when a worker failed (it is 0 after a clean stop).
WORKER_FAILED = 1
#: Beyond the workers' drain and grace, how long stopping waits before killing them.
STOP_MARGIN_SECONDS = 5.0


@dataclass
class Worker:
    """One worker process and the supervisor's end of its pipe."""

    index: int
    process: BaseProcess
    pipe: Connection
    metrics_port: int | None = None
    # Done when the process has exited; one waiter per sentinel (the loop allows one reader).
    exited: asyncio.Task[Worker] | None = None

    def watch(self) -> None:
        self.exited = asyncio.ensure_future(_exit(self))


def serve_with_workers(serve: Serve) -> Serve:
    """``serve`` itself with one worker; with more, a supervisor of worker processes."""

    async def serve_or_supervise(settings: Settings, stop: asyncio.Event) -> None:
        if settings.grpc.workers == 1:
            await serve(settings, stop)
        else:
            await supervise(settings, stop)

    return serve_or_supervise


def hashing_threads(total: int, workers: int) -> list[int]:
    """``total`` hashing threads shared out among ``workers``, at least one each."""
    return [max(total // workers + (index < total % workers), 1) for index in range(workers)]


def worker_environment(settings: Settings, index: int) -> dict[str, str]:
    """What a worker's settings change from the supervisor's (variables win over the file)."""
    count = settings.grpc.workers
    threads = hashing_threads(settings.passwords.worker_count(), count)[index]
    return {
        "APP_GRPC__WORKERS": "1",
        "APP_GRPC__REUSE_PORT": "true",
        # Only the supervisor reads a worker's metrics.
        "APP_METRICS__HOST": "127.0.0.1",
        "APP_METRICS__PORT": "0",
        "APP_PASSWORDS__MAX_WORKERS": str(threads),
        "APP_POSTGRES__MIGRATE_ON_START": "false",
    }


async def supervise(settings: Settings, stop: asyncio.Event) -> None:
    """Migrate, start the workers, serve their metrics until ``stop`` or a worker's exit.

    Raises ``SystemExit(WORKER_FAILED)`` when a worker failed to start, exited
    on its own, or did not stop cleanly.
    """
    await migrate_if_asked(settings)
    context = multiprocessing.get_context("spawn")
    workers = [start_worker(context, settings, index) for index in range(settings.grpc.workers)]
    endpoint: MetricsEndpoint | None = None
    failed: Worker | None = None
    try:
        failed = await _first_done(_all_reported(workers), stop)
        if failed is None and not stop.is_set():
            endpoint = _metrics_endpoint(settings, workers)
            logger.info(
                "workers serving",
                port=settings.grpc.port,
                metrics_port=endpoint.port if endpoint else None,
                workers=[worker.process.pid for worker in workers],
            )
            failed = await _first_done(_any_exit(workers), stop)
        if failed is not None:
            logger.error(
                "worker exited, stopping the others",
                worker=failed.index,
                pid=failed.process.pid,
                exit_code=failed.process.exitcode,
            )
    finally:
        clean = await stop_workers(workers, settings)
        if endpoint is not None:
            endpoint.stop()
    logger.info("workers stopped", clean=clean and failed is None)
    if failed is not None or not clean:
        # The orchestrator restarts the pod on a non-zero exit status.
        raise SystemExit(WORKER_FAILED)


def start_worker(
    context: multiprocessing.context.SpawnContext, settings: Settings, index: int
) -> Worker:
    ours, theirs = context.Pipe()
    process = context.Process(
        target=run_worker,
        args=(index, worker_environment(settings, index), theirs),
        name=f"user-service-worker-{index}",
    )
    process.start()
    theirs.close()  # the worker's end lives in the worker only: its exit closes the pipe
    logger.info("worker started", worker=index, pid=process.pid)
    worker = Worker(index, process, ours)
    worker.watch()
    return worker


async def stop_workers(workers: list[Worker], settings: Settings) -> bool:
    """SIGTERM every worker, wait for its drain and grace, SIGKILL the late; whether all
    stopped cleanly."""
    for worker in workers:
        if worker.process.exitcode is None:
            worker.process.terminate()
    grpc_settings = settings.grpc
    bound = grpc_settings.drain_seconds + grpc_settings.grace_period_seconds + STOP_MARGIN_SECONDS
    await asyncio.wait(_exits(workers), timeout=bound)
    for worker in workers:
        if worker.process.exitcode is None:
            logger.error("worker did not stop in time, killed", worker=worker.index)
            worker.process.kill()
        worker.process.join()
        worker.pipe.close()
    # A worker SIGTERM ended before it could handle the signal stopped as asked, too.
    return all(worker.process.exitcode in (0, -signal.SIGTERM) for worker in workers)


def _metrics_endpoint(settings: Settings, workers: list[Worker]) -> MetricsEndpoint | None:
    if not settings.metrics.enabled:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerMetrics(lambda: [worker.metrics_port for worker in workers]))
    endpoint = MetricsEndpoint(registry, host=settings.metrics_host, port=settings.metrics.port)
    endpoint.start()
    return endpoint


async def _readable(descriptor: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def mark_ready() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(descriptor, mark_ready)
    try:
        await ready
    finally:
        loop.remove_reader(descriptor)


async def _exit(worker: Worker) -> Worker:
    await _readable(worker.process.sentinel)
    worker.process.join()
    return worker


async def _all_reported(workers: Iterable[Worker]) -> Worker | None:
    """Each worker's metrics port once it serves; the first that exits before, if any."""
    for worker in workers:
        await _readable(worker.pipe.fileno())
        try:
            worker.metrics_port = worker.pipe.recv()
        except EOFError:
            await asyncio.wait(_exits([worker]))
            return worker
    return None


def _exits(workers: Iterable[Worker]) -> list[asyncio.Task[Worker]]:
    return [worker.exited for worker in workers if worker.exited is not None]


async def _any_exit(workers: Iterable[Worker]) -> Worker:
    done, _ = await asyncio.wait(_exits(workers), return_when=asyncio.FIRST_COMPLETED)
    return done.pop().result()


async def _first_done(
    work: Coroutine[object, object, Worker | None], stop: asyncio.Event
) -> Worker | None:
    """What ``work`` returns, or None when ``stop`` is set first."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        return None
    return task.result()


def run_worker(index: int, environment: dict[str, str], supervisor: Connection) -> None:
    """A worker process's entry: the service on the shared port until SIGTERM or orphaned."""
    os.environ.update(environment)
    structlog.contextvars.bind_contextvars(worker=index)

    async def serve(settings: Settings, stop: asyncio.Event) -> None:
        # The supervisor never writes: readable means its end is closed, it is gone.
        asyncio.get_running_loop().add_reader(supervisor.fileno(), stop.set)
        application = await build_application(settings)

        def report_metrics_port() -> None:
            with contextlib.suppress(BrokenPipeError):
                supervisor.send(application.metrics_port)

        await application.serve_until(stop, started=report_metrics_port)

    sys.exit(run_process("user-service", serve))
