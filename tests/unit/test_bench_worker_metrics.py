"""bench latency's detection cost per event: reading the worker's metrics and the
arithmetic over two marks."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from fraudgraph.bench.worker_metrics import (
    COSTLIEST,
    MetricsMark,
    WorkerMetricsError,
    detection_per_event,
    parse_mark,
    read_mark,
)
from fraudgraph.observability import metrics
from fraudgraph.observability.metrics import start_metrics_server, stop_metrics_server


def exposition(events: dict[str, float], seconds: dict[str, float]) -> str:
    """What a worker serves, written by prometheus_client itself (not by hand)."""
    registry = CollectorRegistry()
    counted = Counter("fraudgraph_events", "", ["table"], registry=registry)
    for table, n in events.items():
        counted.labels(table).inc(n)
    timed = Histogram("fraudgraph_detector_seconds", "", ["detector"], registry=registry)
    for detector, spent in seconds.items():
        timed.labels(detector).observe(spent)
    return generate_latest(registry).decode()


def test_a_mark_sums_events_over_tables_and_keeps_each_detector() -> None:
    mark = parse_mark(exposition({"logins": 300, "transactions": 700}, {"cycle": 0.5, "fan_in": 2}))
    assert mark.events == 1_000
    assert mark.detector_seconds == {"cycle": 0.5, "fan_in": 2.0}


def test_detection_per_event_is_the_difference_over_the_events_between() -> None:
    start = MetricsMark(1_000, {"learned_risk": 1.0, "cycle": 0.5})
    end = MetricsMark(11_000, {"learned_risk": 3.0, "cycle": 0.6, "fan_in": 0.4})
    figures = detection_per_event(start, end)
    assert figures["events"] == 10_000
    # 2.0 + 0.1 + 0.4 s over 10,000 events.
    assert figures["us_per_event"] == pytest.approx(250.0)
    assert list(figures["costliest_us_per_event"]) == ["learned_risk", "fan_in", "cycle"]
    assert figures["costliest_us_per_event"]["fan_in"] == pytest.approx(40.0)


def test_only_the_costliest_detectors_are_named() -> None:
    start = MetricsMark(0, {})
    end = MetricsMark(100, {f"rule_{n}": n / 1000 for n in range(12)})
    costliest = detection_per_event(start, end)["costliest_us_per_event"]
    assert len(costliest) == COSTLIEST and next(iter(costliest)) == "rule_11"


def test_no_events_between_the_marks_reports_zero() -> None:
    figures = detection_per_event(MetricsMark(5, {"cycle": 1.0}), MetricsMark(5, {"cycle": 1.0}))
    assert figures["us_per_event"] == 0.0 and figures["events"] == 0


def test_a_mark_is_read_from_the_metrics_a_worker_serves() -> None:
    """The worker's own metric objects, served as the worker serves them."""
    port = start_metrics_server("127.0.0.1", 0)
    try:
        before = read_mark(port)
        metrics.EVENTS.labels("bank.bank.logins", "logins", "c").inc(40)
        metrics.DETECTOR_SECONDS.labels("bench_probe").observe(0.002)
        after = read_mark(port)
    finally:
        stop_metrics_server(port)
    figures = detection_per_event(before, after)
    assert figures["events"] == 40
    assert figures["costliest_us_per_event"]["bench_probe"] == pytest.approx(50.0)


def test_an_unreachable_worker_is_a_clear_error() -> None:
    port = start_metrics_server("127.0.0.1", 0)
    stop_metrics_server(port)
    with pytest.raises(WorkerMetricsError, match="cannot read the worker's metrics"):
        read_mark(port, timeout=1)
