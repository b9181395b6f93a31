"""What the detector unit tests share: a hand-made bank through the real engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import Order, changes_of, replay
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher

TEST_HASHER = PiiHasher("k" * 16)


def run(
    tables: dict[str, Sequence[Any]], detector: Detector, order: Order = "time", batch: int = 1000
) -> list[dict[str, Any]]:
    """Every alert `detector` raises over the tables, through the real engine."""
    return replay(
        tables,
        default_mapping(),
        TEST_HASHER,
        DetectionConfig(),
        order=order,
        batch_size=batch,
        detectors=[(detector, False)],
    )


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["alert_id"] for a in alerts]


def run_delivered(
    tables: dict[str, Sequence[Any]],
    detector: Detector,
    deliver: Callable[[list[RowChange]], list[RowChange]],
) -> list[dict[str, Any]]:
    """Alerts when the changes reach the worker in the order `deliver` gives them
    (from event-time order), one per batch, each written to the graph before it is
    judged: what separate topics and partitions read at different paces look like."""
    return deliver_in_batches(tables, [(detector, False)], deliver, DetectionConfig(), batch=1)


def deliver_in_batches(
    tables: Mapping[str, Sequence[Any]],
    detectors: Sequence[tuple[Detector, bool]],
    deliver: Callable[[list[RowChange]], list[RowChange]],
    config: DetectionConfig,
    *,
    batch: int,
) -> list[dict[str, Any]]:
    """run_delivered with any detectors and configuration, `batch` changes at a time."""
    builder = RecordBuilder(default_mapping(), TEST_HASHER)
    graph = MemoryHistory(builder)
    engine = DetectionEngine(graph, config, builder, detectors, clock_ms=lambda: 0)
    raised: list[dict[str, Any]] = []
    changes = deliver(changes_of(tables, "time"))
    for start in range(0, len(changes), batch):
        part = changes[start : start + batch]
        for change in part:
            assert change.row is not None
            graph.add_rows(change.table, [change.row])
        result = engine.run(part)
        raised += result.alerts
        engine.confirm(result)
    return raised


def tables_reversed(changes: list[RowChange]) -> list[RowChange]:
    """Table by table, the last table first, each backwards: accounts before their
    customers, later customers before earlier ones."""
    tables = list(dict.fromkeys(c.table for c in changes))
    return [c for table in reversed(tables) for c in reversed(changes) if c.table == table]
