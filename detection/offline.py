"""Detection over a simulated bank without any service: the thresholds' test bench.

The simulator's rows go through the same conversions and detectors as in the
worker, with the history answered from memory, in the order a snapshot would
deliver them (table by table, in key order) or in event-time order (like live).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.contract import BANK_TABLES
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import graph_value

Order = Literal["snapshot", "time"]
_EVENT_TIME = {
    "customers": "created_at",
    "accounts": "opened_at",
    "cards": "issued_at",
    "devices": "first_seen_at",
    "merchants": None,
    "logins": "occurred_at",
    "transactions": "created_at",
    "fraud_reports": "reported_at",
}


def _rows(tables: Mapping[str, Sequence[Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for table in BANK_TABLES:
        for row in tables.get(table, ()):
            yield table, row if isinstance(row, Mapping) else row._asdict()


def changes_of(tables: Mapping[str, Sequence[Any]], order: Order) -> list[RowChange]:
    rows = list(_rows(tables))
    if order == "time":

        def when(item: tuple[str, Mapping[str, Any]]) -> int:
            column = _EVENT_TIME[item[0]]
            return int(graph_value(item[1][column])) if column else 0

        rows.sort(key=when)
    changes = []
    for n, (table, row) in enumerate(rows):
        column = _EVENT_TIME[table]
        at = int(graph_value(row[column])) if column else 0
        key_column = next(iter(row))
        changes.append(
            RowChange(
                table=table,
                op="r",
                key={key_column: row[key_column]},
                row=row,
                lsn=n,
                committed_at_ms=at,
                position=Position("offline", 0, n),
            )
        )
    return changes


def replay(
    tables: Mapping[str, Sequence[Any]],
    mapping: GraphMapping,
    hasher: PiiHasher,
    config: DetectionConfig,
    *,
    order: Order = "snapshot",
    batch_size: int = 2000,
    detectors: Sequence[tuple[Detector, bool]] | None = None,
) -> list[dict[str, Any]]:
    """Every alert (live and shadow) the detectors raise over these tables.

    `detectors` (detector, shadow) default to those the config enables.
    """
    builder = RecordBuilder(mapping, hasher)
    history = MemoryHistory.from_tables(builder, tables)
    chosen = build_detectors(config) if detectors is None else detectors
    engine = DetectionEngine(history, config, builder, chosen, clock_ms=lambda: 0)
    alerts: list[dict[str, Any]] = []
    changes = changes_of(tables, order)
    for start in range(0, len(changes), batch_size):
        result = engine.run(changes[start : start + batch_size])
        alerts.extend(result.alerts)
        alerts.extend(result.shadow_alerts)
        engine.confirm(result)
    return alerts
