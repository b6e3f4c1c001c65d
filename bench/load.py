"""Load generators for the service benchmark: h2load when installed, else a Python client.

h2load (Debian ``nghttp2-client``) speaks HTTP/2 and, given a body in gRPC's
length-prefixed framing and the gRPC headers, drives unary calls while
spending little CPU, which matters on a machine the client shares with the
service. It counts HTTP responses, not gRPC statuses (a refused call is an
HTTP 200 with ``grpc-status`` in its trailers), so errors are read from the
service's own metrics by the caller. The Python generator (grpc.aio, one
channel per caller) is the fallback; it costs far more CPU per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.message import Message

H2LOAD = shutil.which("h2load")
GENERATOR = "h2load" if H2LOAD and not os.environ.get("BENCH_PYTHON_CLIENT") else "python"


@dataclass(frozen=True)
class Load:
    """What one measurement ran: answered calls, their latencies (seconds), and its length."""

    calls: int
    seconds: float
    latencies: Sequence[float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, quantile: float) -> float:
        """The ``quantile`` latency in milliseconds (0 when nothing was answered)."""
        ordered = sorted(self.latencies)
        return ordered[int(quantile * (len(ordered) - 1))] * 1000 if ordered else 0.0


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def grpc_frame(message: Message) -> bytes:
    """``message`` as one uncompressed gRPC message: flag, big-endian length, bytes."""
    body = message.SerializeToString()
    return struct.pack(">BI", 0, len(body)) + body


async def h2load(
    port: int,
    method: str,
    request: Message,
    *,
    seconds: float,
    in_flight: int,
    metadata: Sequence[tuple[str, str]] = (),
    connections: int | None = None,
) -> Load:
    """``method`` (``/pkg.Service/Method``) with ``in_flight`` calls open for ``seconds``,
    on ``connections`` connections (default: up to 4)."""
    assert H2LOAD is not None
    connections = connections or max(1, min(4, in_flight // 4))
    with tempfile.TemporaryDirectory() as directory:
        body = Path(directory) / "body"
        body.write_bytes(grpc_frame(request))
        log = Path(directory) / "log"
        headers = [("content-type", "application/grpc"), ("te", "trailers"), *metadata]
        arguments = [
            *("-c", str(connections), "-m", str(max(1, in_flight // connections)), "-t", "1"),
            *("-D", f"{seconds:g}", "--warm-up-time", "1", "-d", str(body)),
            *("--log-file", str(log)),
            *[option for name, value in headers for option in ("-H", f"{name}: {value}")],
            f"http://127.0.0.1:{port}{method}",
        ]
        process = await asyncio.create_subprocess_exec(
            H2LOAD, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(process.communicate(), seconds + 30)
        if process.returncode != 0:
            raise RuntimeError(f"h2load failed: {output.decode()[-2000:]}")
        latencies = [
            int(columns[2]) / 1e6
            for columns in (line.split("\t") for line in log.read_text().splitlines())
            if len(columns) >= 3 and columns[1] == "200"
        ]
    return Load(len(latencies), seconds, latencies)


async def python_client(
    port: int,
    method: str,
    request: Message | Callable[[], Message],
    response_type: type[Message],
    *,
    seconds: float,
    in_flight: int,
    metadata: Sequence[tuple[str, str]] = (),
    max_calls: int = 1_000_000,
) -> Load:
    """The same load from grpc.aio callers; ``request`` may be a factory (a new body per call)."""
    make = request if callable(request) else (lambda: request)
    latencies: list[float] = []
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(max(1, in_flight // 16))
    ]
    try:
        calls = [
            channel.unary_unary(
                method,
                request_serializer=_serialize,
                response_deserializer=response_type.FromString,
            )
            for channel in channels
        ]
        warm_until = time.monotonic() + 1
        until = warm_until + seconds

        async def caller(index: int) -> None:
            call = calls[index % len(calls)]
            for _ in range(max_calls):
                started = time.monotonic()
                if started >= until:
                    return
                # Failures are counted by the service's metrics, as with h2load.
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await call(make(), metadata=tuple(metadata), timeout=30)
                if started >= warm_until:
                    latencies.append(time.monotonic() - started)

        await asyncio.gather(*(caller(index) for index in range(in_flight)))
    finally:
        for channel in channels:
            await channel.close()
    return Load(len(latencies), seconds, latencies)
