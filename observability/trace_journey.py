"""One transaction's journey from its spans: the span tree and the latency of each hop.

Milestones, in the order a change travels (each present only when its span is):
commit (source `ts_ms`) → Debezium read (Connect's `debezium-read` span) → Kafka
(the record's CreateTime) → worker (its `process` span starts) → Neo4j (its graph
write ends) → alert (the first alert's `send` acknowledged) → webhook (the first
successful POST ends). A hop is the time between two consecutive milestones.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rich.table import Table
from rich.tree import Tree

from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.trace_files import SpanRecord

MILESTONES = ("commit", "debezium read", "kafka", "worker", "neo4j", "alert", "webhook")


@dataclass
class Journey:
    """What one trace says about one change: milestone times in ns since the epoch."""

    trace_id: str
    table: str | None = None
    key: str | None = None
    at_ns: dict[str, int] = field(default_factory=dict)

    def hops(self) -> list[tuple[str, float]]:
        """(label, ms) between consecutive milestones present, then the end-to-end total."""
        present = [(name, self.at_ns[name]) for name in MILESTONES if name in self.at_ns]
        steps = [
            (f"{a} → {b}", (t_b - t_a) / 1e6) for (a, t_a), (b, t_b) in itertools.pairwise(present)
        ]
        if len(present) > 2:
            (first, began), (last, ended) = present[0], present[-1]
            steps.append((f"{first} → {last} (total)", (ended - began) / 1e6))
        return steps


def journey_of(trace_id: str, spans: Iterable[SpanRecord]) -> Journey:
    """Milestones of the trace's changed row (its `process` span on a CDC topic)."""
    journey = Journey(trace_id)
    note = _Earliest(journey.at_ns)
    for span in spans:
        attributes = span.attributes
        if span.name == sc.DEBEZIUM_READ:
            note("debezium read", span.start_ns)
        elif span.name == sc.DEBEZIUM_COMMIT:
            note("commit", span.start_ns)
        elif span.kind == "CONSUMER" and sc.TABLE in attributes:
            journey.table = str(attributes[sc.TABLE])
            journey.key = str(attributes.get(sc.ROW_KEY))
            if sc.COMMIT_MS in attributes:
                note("commit", int(attributes[sc.COMMIT_MS]) * 1_000_000)
            if sc.KAFKA_TIMESTAMP_MS in attributes:
                note("kafka", int(attributes[sc.KAFKA_TIMESTAMP_MS]) * 1_000_000)
            note("worker", span.start_ns)
        elif span.name == sc.GRAPH_WRITE:
            note("neo4j", span.end_ns)
        elif span.kind == "PRODUCER" and sc.ALERT_ID in attributes and span.status != "ERROR":
            note("alert", span.end_ns)
        elif (
            span.kind == "CLIENT" and span.attributes.get(sc.HTTP_METHOD) and span.status != "ERROR"
        ):
            note("webhook", span.end_ns)
    return journey


class _Earliest:
    """Records a milestone's earliest time (redeliveries and retries come later)."""

    def __init__(self, at_ns: dict[str, int]) -> None:
        self.at_ns = at_ns

    def __call__(self, name: str, ns: int) -> None:
        if name not in self.at_ns or ns < self.at_ns[name]:
            self.at_ns[name] = ns


# --- the tree ------------------------------------------------------------------------------


def span_tree(trace_id: str, spans: Sequence[SpanRecord]) -> Tree:
    """The trace as a rich Tree: each span with its service, offset from the start and duration.

    `spans` may hold spans of other traces that a span of this one links to (the
    worker's batch): they are shown under the span that links to them.
    """
    spans = sorted(spans, key=lambda s: (s.start_ns, s.end_ns))
    by_id = {span.span_id: span for span in spans}
    children: dict[str | None, list[SpanRecord]] = defaultdict(list)
    linked: set[str] = set()
    for span in spans:
        for _, span_id in span.links:
            if span_id in by_id:
                children[span.span_id].append(by_id[span_id])
                linked.add(span_id)
    for span in spans:
        # A parent that was not exported (sampled out, still queued, another file) makes
        # its children roots, rather than hiding them.
        parent = span.parent_id if span.parent_id in by_id else None
        if parent is None and span.span_id in linked:
            continue  # shown under the span linking to it
        children[parent].append(span)
    origin = min((s.start_ns for s in spans if s.trace_id == trace_id), default=0)
    own = sum(1 for s in spans if s.trace_id == trace_id)
    tree = Tree(f"trace [bold]{trace_id}[/] ({own} spans, {len(spans) - own} linked)")

    def add(node: Tree, parent: SpanRecord | None) -> None:
        for span in children.get(parent.span_id if parent else None, []):
            entering = span.trace_id != trace_id and (parent is None or parent.trace_id == trace_id)
            prefix = "[magenta]linked batch:[/] " if entering else ""
            add(node.add(prefix + _label(span, origin)), span)

    add(tree, None)
    return tree


def _label(span: SpanRecord, origin_ns: int) -> str:
    offset = (span.start_ns - origin_ns) / 1e6
    status = " [red]ERROR[/]" if span.status == "ERROR" else ""
    detail = _detail(span.attributes)
    return (
        f"[bold]{span.name}[/] [dim]{span.service}[/] +{offset:,.1f} ms "
        f"[cyan]{span.duration_ms:,.1f} ms[/]{status}{detail}"
    )


def _detail(attributes: Mapping[str, object]) -> str:
    shown = []
    if sc.TABLE in attributes:
        shown.append(
            f"{attributes[sc.TABLE]} {attributes.get(sc.OP)} key={attributes.get(sc.ROW_KEY)}"
        )
        shown.append(f"lsn={attributes.get(sc.LSN)}")
    if sc.MESSAGING_PARTITION in attributes:
        partition, offset = attributes[sc.MESSAGING_PARTITION], attributes.get(sc.KAFKA_OFFSET)
        shown.append(f"partition={partition} offset={offset}")
    labels = {
        sc.ALERT_RULE: "rule",
        sc.DB_OPERATION: "db.operation",
        sc.DB_BATCH_SIZE: "rows",
        sc.HTTP_STATUS: "status",
        sc.DEAD_LETTER_REASON: "dead letter",
    }
    for name, label in labels.items():
        if name in attributes:
            shown.append(f"{label}={attributes[name]}")
    return f" [dim]{' '.join(shown)}[/]" if shown else ""


def hop_table(journey: Journey) -> Table:
    table = Table(title=f"hops of {journey.table or '?'} {journey.key or ''}".strip())
    table.add_column("hop")
    table.add_column("ms", justify="right")
    for label, ms in journey.hops():
        table.add_row(label, f"{ms:,.1f}")
    return table


# --- many journeys -------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def hop_summary(journeys: Iterable[Journey]) -> dict[str, dict[str, float]]:
    """Per hop label: count, p50, p95, p99 and max in ms."""
    by_hop: dict[str, list[float]] = defaultdict(list)
    for journey in journeys:
        for label, ms in journey.hops():
            by_hop[label].append(ms)
    return {
        label: {
            "count": len(values),
            "p50_ms": round(percentile(values, 0.50), 2),
            "p95_ms": round(percentile(values, 0.95), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values), 2),
        }
        for label, values in by_hop.items()
    }
