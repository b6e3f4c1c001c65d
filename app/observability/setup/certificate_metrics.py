"""``tls_certificate_expiry_timestamp_seconds``: when the certificate being served ends."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.config.certificates import Validity


class CertificateExpiryCollector(Collector):
    """The end of the certificate read at start-up (gRPC serves that one until the process ends)."""

    def __init__(self, validity: Validity) -> None:
        self._expiry = validity.not_after.timestamp()

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "tls_certificate_expiry_timestamp_seconds",
            "When the gRPC server's certificate (APP_GRPC__TLS__CERT_FILE) expires, in Unix time",
        )
        gauge.add_metric([], self._expiry)
        yield gauge
