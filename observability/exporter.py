"""The pipeline exporter's /metrics: consumer lag from outside the worker, Connect status.

The worker reports its own lag, but a stopped or crashed worker reports nothing,
and that is exactly when lag grows. This exporter measures the worker group's
lag (committed offsets against watermarks, without joining the group) in a
process of its own, so the lag alert keeps working while no worker runs. It
serves its own registry: none of the worker's series appear here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fraudgraph.observability.connect_status import ConnectStatusCollector, StatusFetch
from fraudgraph.observability.lag import LagProbe, LagUnavailableError, PartitionKey
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)


class ConsumerLagCollector(Collector):
    """fraudgraph_consumer_lag{topic,partition} of one group, measured on scrape (cached)."""

    def __init__(
        self,
        measure: Callable[[], dict[PartitionKey, int]],
        group: str,
        min_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._measure = measure
        self._group = group
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._measured_at: float | None = None
        self._lags: dict[PartitionKey, int] = {}
        self._ok = False

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = self._clock()
            if self._measured_at is None or now - self._measured_at >= self._min_interval_s:
                try:
                    self._lags, self._ok = self._measure(), True
                except LagUnavailableError as error:
                    # No stale numbers: an absent series is honest, an old one is not.
                    log.warning("consumer_lag_unavailable", error=str(error)[:300])
                    self._lags, self._ok = {}, False
                self._measured_at = now
            yield from self._families(filled=True)

    def _families(self, filled: bool = False) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "fraudgraph_consumer_lag",
            "Messages not yet committed by the worker group (high watermark - committed offset).",
            labels=["group", "topic", "partition"],
        )
        measured = GaugeMetricFamily(
            "fraudgraph_consumer_lag_measured",
            "1 when the last lag measurement succeeded (Kafka answered in time).",
            labels=["group"],
        )
        if filled:
            measured.add_metric([self._group], 1.0 if self._ok else 0.0)
            for (topic, partition), value in sorted(self._lags.items()):
                lag.add_metric([self._group, topic, str(partition)], float(value))
        yield from (lag, measured)


def exporter_registry(
    probe: LagProbe, connect_status: StatusFetch, min_interval_s: float = 5.0
) -> CollectorRegistry:
    """A registry with the group's lag and Connect's status, nothing else."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ConsumerLagCollector(probe.measure, probe.group, min_interval_s))
    registry.register(ConnectStatusCollector(connect_status, min_interval_s))
    return registry


def serve_exporter(
    registry: CollectorRegistry, host: str, port: int
) -> tuple[int, Callable[[], None]]:
    """Serve /metrics from a daemon thread; returns the bound port and a stop function."""
    server, _thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return int(server.server_port), stop
