"""One ``/metrics`` for several worker processes: theirs, each sample labelled ``worker``.

Each worker serves its own registry on a loopback port only the supervisor
knows; at every scrape the supervisor reads them all and serves the samples
together, each with a ``worker`` label (the worker's index, stable for the
pod's life). So a pod is one scrape target, and nothing a worker exports is
lost: prometheus-client's multiprocess mode would keep only the metrics it
writes to files, not the values read at scrape time (pool and hashing gauges,
redis-py's OpenTelemetry metrics, process CPU and memory). Counters and
histograms add up with ``sum without (worker)``; gauges stay per process.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterable, Sequence

import structlog
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

logger = structlog.get_logger(__name__)

WORKER_LABEL = "worker"
#: How long a scrape waits for one worker's page.
WORKER_SCRAPE_SECONDS = 2.0


def read_metrics_page(port: int) -> str:
    """The exposition text a worker serves on ``127.0.0.1:port``."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=WORKER_SCRAPE_SECONDS) as page:
        return str(page.read().decode())


class WorkerMetrics(Collector):
    """Every worker's metrics at scrape time, merged by family, labelled by worker index.

    ``ports`` gives each worker's metrics port (None: metrics off or not up
    yet); a worker that does not answer is left out of that scrape, with a
    warning.
    """

    def __init__(
        self,
        ports: Callable[[], Sequence[int | None]],
        read: Callable[[int], str] = read_metrics_page,
    ) -> None:
        self._ports = ports
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for index, port in enumerate(self._ports()):
            if port is None:
                continue
            try:
                text = self._read(port)
            except OSError as err:
                logger.warning("worker metrics not read", worker=index, error=str(err))
                continue
            for family in text_string_to_metric_families(text):
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                merged.samples.extend(
                    sample._replace(labels={**sample.labels, WORKER_LABEL: str(index)})
                    for sample in family.samples
                )
        return list(families.values())
