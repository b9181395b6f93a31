"""Metric names, the helpers with logic, and the /metrics server."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

# Imported for its registrations: webhook delivery defines its metrics next to its code.
import fraudgraph.alerts.webhooks.metrics  # noqa: F401
from fraudgraph.observability import metrics
from fraudgraph.observability.connect_status import ConnectStatusCollector
from fraudgraph.observability.exporter import ConsumerLagCollector
from tests.repo import PROJECT_ROOT

OBSERVABILITY = PROJECT_ROOT / "observability"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exporter_families() -> list[Metric]:
    """The pipeline exporter's families, by name only (describe() does no I/O)."""
    collectors = (ConsumerLagCollector(dict, "group"), ConnectStatusCollector(dict))
    return [family for collector in collectors for family in collector.describe()]


def _defined_series_names() -> set[str]:
    names = set()
    for family in [*REGISTRY.collect(), *_exporter_families()]:
        if family.name.startswith("fraudgraph_"):
            names |= {family.name + suffix for suffix in _SUFFIXES[family.type]}
    return names


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    "path",
    ["prometheus/rules.yml", "prometheus/rules_test.yml", "grafana/dashboards/fraudgraph.json"],
)
def test_every_metric_the_rules_and_dashboard_use_is_defined(path: str) -> None:
    used = set(re.findall(r"\bfraudgraph_[a-z_]+", (OBSERVABILITY / path).read_text()))
    assert used, path
    assert used <= _defined_series_names(), used - _defined_series_names()


def test_the_contracted_names_and_labels_exist() -> None:
    families = {family.name: family for family in REGISTRY.collect()}
    assert families["fraudgraph_events"].type == "counter"
    assert families["fraudgraph_consumer_lag"].type == "gauge"
    assert families["fraudgraph_commit_to_alert_seconds"].type == "histogram"
    assert metrics.EVENTS._labelnames == ("topic", "table", "op")
    assert metrics.ALERTS._labelnames == ("rule", "kind", "severity", "shadow")
    assert metrics.CONSUMER_LAG._labelnames == ("topic", "partition")
    # The end-to-end buckets span 10 ms to 60 s.
    assert metrics.END_TO_END_BUCKETS[0] == 0.01
    assert metrics.END_TO_END_BUCKETS[-1] == 60.0


def test_seconds_since_a_millisecond_timestamp_never_goes_negative() -> None:
    assert metrics.seconds_since(1_000_000, now=1_002.5) == pytest.approx(2.5)
    # The source's clock runs ahead of ours: clamp instead of a negative latency.
    assert metrics.seconds_since(2_000_000, now=1_000.0) == 0.0


def test_record_batch_observes_the_size_and_moves_the_stall_clock() -> None:
    count = _value("fraudgraph_batch_size_count")
    total = _value("fraudgraph_batch_size_sum")
    metrics.record_batch(250, now=1_700_000_000.0)
    assert _value("fraudgraph_batch_size_count") == count + 1
    assert _value("fraudgraph_batch_size_sum") == total + 250
    assert _value("fraudgraph_last_batch_timestamp_seconds") == 1_700_000_000.0


def test_commit_latency_skips_events_without_a_source_timestamp() -> None:
    name = "fraudgraph_commit_to_graph_seconds_count"
    before = _value(name)
    metrics.observe_commit_latency(metrics.COMMIT_TO_GRAPH_SECONDS, None)
    metrics.observe_commit_latency(metrics.COMMIT_TO_GRAPH_SECONDS, 0)
    assert _value(name) == before
    metrics.observe_commit_latency(metrics.COMMIT_TO_GRAPH_SECONDS, 1.0)
    assert _value(name) == before + 1


def test_metrics_server_serves_the_default_registry_on_loopback() -> None:
    port = metrics.start_metrics_server(port=0)
    try:
        assert port > 0
        metrics.EVENTS.labels(topic="bank.bank.cards", table="cards", op="c").inc(3)
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        line = next(
            line
            for line in response.text.splitlines()
            if line.startswith("fraudgraph_events_total{") and 'table="cards"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) >= 3
        assert metrics._servers[port].server_address[0] == "127.0.0.1"
    finally:
        metrics.stop_metrics_server(port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_dashboard_panel_titles_are_unique() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana/dashboards/fraudgraph.json").read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(titles) == len(set(titles))
