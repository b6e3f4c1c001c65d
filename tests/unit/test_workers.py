"""Worker processes: the setting, what each worker is given, one /metrics for all."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.config import ConfigError, Settings, load_settings, usable_cpus
from app.entrypoints.supervisor import hashing_threads, worker_environment
from app.observability.setup.worker_metrics import WorkerMetrics


def test_one_worker_by_default_and_auto_means_one_per_usable_cpu(clean_environment):
    assert load_settings().grpc.workers == 1
    clean_environment.setenv("APP_GRPC__WORKERS", "auto")
    assert load_settings().grpc.workers == usable_cpus()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"APP_GRPC__WORKERS": "0"}, "APP_GRPC__WORKERS"),
        ({"APP_GRPC__WORKERS": "2", "APP_GRPC__PORT": "0"}, "set APP_GRPC__PORT"),
    ],
)
def test_workers_below_one_or_on_a_random_port_are_refused(clean_environment, variables, message):
    for name, value in variables.items():
        clean_environment.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


@pytest.mark.parametrize(
    ("total", "workers", "shares"),
    [(8, 4, [2, 2, 2, 2]), (7, 3, [3, 2, 2]), (1, 2, [1, 1]), (2, 2, [1, 1])],
)
def test_hashing_threads_are_shared_out_with_at_least_one_per_worker(total, workers, shares):
    assert hashing_threads(total, workers) == shares


def test_a_worker_shares_the_port_reports_metrics_privately_and_does_not_migrate(
    clean_environment,
):
    settings = Settings(grpc={"workers": 3, "port": 5000}, passwords={"max_workers": 4})
    environments = [worker_environment(settings, index) for index in range(3)]
    assert [env["APP_PASSWORDS__MAX_WORKERS"] for env in environments] == ["2", "1", "1"]
    for environment in environments:
        assert environment["APP_GRPC__WORKERS"] == "1"
        assert environment["APP_GRPC__REUSE_PORT"] == "true"
        assert environment["APP_METRICS__HOST"] == "127.0.0.1"
        assert environment["APP_METRICS__PORT"] == "0"
        assert environment["APP_POSTGRES__MIGRATE_ON_START"] == "false"


def worker_page(calls: float, pool_size: float) -> str:
    registry = CollectorRegistry()
    Counter("calls", "Calls handled", ["method"], registry=registry).labels("GetMe").inc(calls)
    Gauge("pool_size", "Connections open", registry=registry).set(pool_size)
    return generate_latest(registry).decode()


def test_one_page_holds_every_workers_samples_labelled_by_worker():
    pages = {7001: worker_page(3, 1), 7002: worker_page(4, 2)}

    def read(port: int) -> str:
        if port not in pages:
            raise ConnectionRefusedError(port)
        return pages[port]

    registry = CollectorRegistry()
    # The third worker's metrics are not up; the fourth does not answer.
    registry.register(WorkerMetrics(lambda: [7001, 7002, None, 7003], read))
    text = generate_latest(registry).decode()

    assert text.count("# TYPE calls_total counter") == 1
    samples = {
        (sample.name, sample.labels.get("worker")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert samples == {
        ("calls_total", "0"): 3,
        ("calls_total", "1"): 4,
        ("pool_size", "0"): 1,
        ("pool_size", "1"): 2,
    }
