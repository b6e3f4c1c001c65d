"""Instructions per call: the production service under callgrind, a fixed number of calls.

CPU time per call moves by several per cent between two runs of the same code
on a shared machine; an instruction count does not depend on what else runs,
so a change worth one or two per cent shows. The service runs as
``bench_service`` runs it (JSON logs, metrics, tracing at 10 % over OTLP unless
``--untraced``) under ``valgrind --tool=callgrind`` with instrumentation off;
h2load sends a warm-up, then instrumentation is switched on for ``--calls``
calls (16 in flight) and the ten seconds after them, in which the last spans
are exported. Work that runs by the clock rather than per call (health probes,
the outbox relay) is switched off for the measurement: under valgrind a run
lasts a minute or two, and its share would depend on the machine's load.

Usage (two minutes or more: valgrind runs the service some 50 times slower)::

    .venv/bin/python bench/instructions.py GetMe [--calls 2000] [--untraced]

Prints the instructions per call (all threads) and the share of each binary
(the Python interpreter, gRPC core, uvloop...).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_service
import soak
from load import grpc_frame

from app.grpc.generated import user_service_pb2 as pb
from tests.support import processes
from tests.support.isolation import remove_run_data

WARM_UP_CALLS = 200
AFTER_SECONDS = 10.0  # past the span processor's 5 s schedule: the last spans are exported
QUIET = {"APP_HEALTH__CHECK_INTERVAL_SECONDS": "86400", "APP_EVENTS__RELAY_ENABLED": "false"}


def under_callgrind(dump: Path) -> Any:
    """A ``start_process`` that runs ``python -m app`` under callgrind, instrumentation off."""

    async def start(
        command: list[str], environment: dict[str, str], output: Any = None
    ) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *("valgrind", "--tool=callgrind", "--instr-atstart=no"),
            f"--callgrind-out-file={dump}",
            *(sys.executable, "-m", "app", *command),
            cwd=processes.ROOT,
            env=environment,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )

    return start


def patiently(wait: Any) -> Any:
    """``wait`` (for the service to serve) given ten minutes: valgrind starts it slowly."""

    async def wait_longer(port: int, seconds: float) -> None:
        await wait(port, seconds=max(seconds, 600))

    return wait_longer


async def calls(port: int, method: str, request: Any, session: str, count: int) -> None:
    """``count`` calls of ``method`` (16 in flight); raises unless every one got a reply."""
    with tempfile.TemporaryDirectory() as directory:
        body = Path(directory) / "body"
        body.write_bytes(grpc_frame(request))
        process = await asyncio.create_subprocess_exec(
            *("h2load", "-c", "4", "-m", "4", "-t", "1", "-n", str(count), "-d", str(body)),
            *("-H", "content-type: application/grpc", "-H", "te: trailers"),
            *("-H", f"session_id: {session}", f"http://127.0.0.1:{port}{method}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output, _ = await process.communicate()
    if f"{count} succeeded".encode() not in output:
        raise RuntimeError(output.decode()[-1000:])


def control(*arguments: str) -> None:
    subprocess.run(["callgrind_control", *arguments], check=True, capture_output=True)


def by_binary(dump: Path) -> collections.Counter[str]:
    """Instructions by the binary they ran in, read from a callgrind dump."""
    names: dict[str, str] = {}
    current = ""
    costs: collections.Counter[str] = collections.Counter()
    after_call = False
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("ob=", "cob=")):
            key, _, value = line.partition("=")
            match = re.match(r"\((\d+)\)(?: (.*))?", value)
            if match and match.group(2):
                names[match.group(1)] = match.group(2)
            if key == "ob":
                current = names.get(match.group(1), "?") if match else value
        elif line.startswith("calls="):
            after_call = True  # the next cost line is a call's inclusive cost
        elif line[:1].isdigit() or line[:1] in "+-*":
            parts = line.split()
            if not after_call and len(parts) >= 2:
                costs[Path(current).name] += int(parts[1])
            after_call = False
    return costs


def request_for(method: str, service: bench_service.Service) -> Any:
    if method == "FindByID":
        return pb.FindByIDRequest(uuid=service.user_id)
    if method == "FindByEmail":
        return pb.FindByEmailRequest(email=service.email)
    return pb.GetMeRequest()


async def measure(method: str, count: int, traced: bool, work: Path) -> collections.Counter[str]:
    settings = await bench_service.migrated_bench_settings()
    output = work / "callgrind.out"
    soak.start_process = under_callgrind(output)  # type: ignore[attr-defined]
    soak._wait_until_serving = patiently(soak._wait_until_serving)
    try:
        async with bench_service.span_sink() as (otlp_port, _):
            variables = {**(bench_service.traced_variables(otlp_port) if traced else {}), **QUIET}
            async with bench_service.service(settings, work / "log", **variables) as service:
                path = f"{bench_service.SERVICE}/{method}"
                request = request_for(method, service)
                await calls(service.port, path, request, service.session_id, WARM_UP_CALLS)
                control("-i", "on", str(service.pid))
                await calls(service.port, path, request, service.session_id, count)
                await asyncio.sleep(AFTER_SECONDS)
                control("-i", "off", str(service.pid))
                control("-d", str(service.pid))
    finally:
        await remove_run_data(settings)
    return by_binary(Path(f"{output}.1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=["GetMe", "FindByID", "FindByEmail"])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--untraced", action="store_true")
    arguments = parser.parse_args()
    if not (shutil.which("valgrind") and shutil.which("h2load")):
        raise SystemExit("needs valgrind and h2load (apt-get install valgrind nghttp2-client)")
    with tempfile.TemporaryDirectory() as directory:
        costs = asyncio.run(
            measure(arguments.method, arguments.calls, not arguments.untraced, Path(directory))
        )
    total = sum(costs.values())
    tracing = "off" if arguments.untraced else "at 10 %"
    print(
        f"{arguments.method}, tracing {tracing}: {total / arguments.calls:,.0f} instructions/call"
    )
    for binary, cost in costs.most_common(6):
        print(f"  {100 * cost / total:5.1f} %  {binary}")


if __name__ == "__main__":
    main()
