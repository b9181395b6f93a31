"""A finished batch moves the worker's Prometheus series by what it held."""

from __future__ import annotations

from prometheus_client import REGISTRY

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.detection.engine import DetectionResult
from fraudgraph.stream.metrics import observe_batch

TOPIC = "metrics-test.bank.logins"


def _events(op: str) -> float:
    labels = {"topic": TOPIC, "table": "logins", "op": op}
    return REGISTRY.get_sample_value("fraudgraph_events_total", labels) or 0.0


def _change(offset: int, op: str) -> RowChange:
    return RowChange("logins", op, {"login_id": offset}, {}, offset, 1, Position(TOPIC, 0, offset))


def test_events_are_counted_per_table_and_op_and_alerts_per_rule() -> None:
    before_c, before_u = _events("c"), _events("u")
    alerts_labels = {
        "rule": "metrics_test_rule",
        "kind": "anomaly",
        "severity": "high",
        "shadow": "false",
    }
    before_alerts = REGISTRY.get_sample_value("fraudgraph_alerts_total", alerts_labels) or 0.0
    detection = DetectionResult(
        alerts=[{"rule": "metrics_test_rule", "kind": "anomaly", "severity": "high"}] * 2
    )
    observe_batch([_change(1, "c"), _change(2, "c"), _change(3, "u")], [], 0.01, detection)
    assert _events("c") - before_c == 2
    assert _events("u") - before_u == 1
    after_alerts = REGISTRY.get_sample_value("fraudgraph_alerts_total", alerts_labels)
    assert after_alerts == before_alerts + 2


def test_detections_graph_reads_are_counted_per_cache_index() -> None:
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"index": "reports"}) or 0.0

    reads, keys = (
        sample("fraudgraph_detection_graph_reads_total"),
        sample("fraudgraph_detection_graph_read_keys_total"),
    )
    observe_batch([], [], None, DetectionResult(graph_reads={"reports": (2, 31)}))
    assert sample("fraudgraph_detection_graph_reads_total") - reads == 2
    assert sample("fraudgraph_detection_graph_read_keys_total") - keys == 31
