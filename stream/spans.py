"""The spans of one batch: one span per record in its own trace, the batch's steps linked from it.

Each record gets a `process <topic>` consumer span, child of the context in its
`traceparent` header (Debezium's `db-log-write` span when Connect traces, else a
new root), carrying the source coordinates (table, op, key, LSN, commit time) and
a link to its batch's `worker batch` span. Decode, graph write and detect run
once per batch, so they are spans of the batch (graph write with the database
conventions, detect with one child per detector), not one copy per record: the
SDK's cost is per span, and per-record copies tripled it (measured with `bench
ingest --compare-tracing`). `fraudgraph trace` follows the link to show a
record's batch steps under its process span. An alert is sent under a `send`
span, child of the process span of the change that raised it.

Everything here is a no-op when tracing is off: no span objects, no attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.tracing import (
    context_from_headers,
    context_from_mapping,
    headers_of,
    mapping_of,
    tracer,
)
from fraudgraph.stream.records import RawRecord

_NO_PARENT = Context()


def tracing_active() -> bool:
    """True once setup_tracing installed an SDK provider in this process."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


class BatchSpans:
    """Per-record and per-step spans of one batch, created by BatchProcessor's steps."""

    def __init__(self, records: Sequence[RawRecord], group: str | None = None) -> None:
        self.enabled = tracing_active()
        self.group = group
        self.started_ns = time.time_ns()
        self.batch: Span = INVALID_SPAN
        self._links: list[Link] = []
        self._process: dict[Position, Span] = {}
        self._by_trace: dict[str, Span] = {}  # for the alerts a change raised
        if self.enabled:
            attributes: dict[str, Any] = {sc.MESSAGING_BATCH_COUNT: len(records)}
            if group:
                attributes[sc.MESSAGING_CONSUMER_GROUP] = group
            self.batch = tracer().start_span(
                sc.BATCH, start_time=self.started_ns, attributes=attributes
            )
            self._links = [Link(self.batch.get_span_context())]

    # -- per record ------------------------------------------------------------------

    def open(self, record: RawRecord, change: RowChange | TableTruncate | None) -> Span:
        """The record's process span, once decoded (not current: records interleave).

        Every attribute is given at the start: each later set_attribute(s) call costs
        about as much again in the SDK's attribute checks.
        """
        if not self.enabled:
            return INVALID_SPAN
        attributes: dict[str, Any] = {
            sc.MESSAGING_SYSTEM: "kafka",
            sc.MESSAGING_OPERATION_TYPE: "process",
            sc.MESSAGING_DESTINATION: record.topic,
            sc.MESSAGING_PARTITION: str(record.partition),
            sc.KAFKA_OFFSET: record.offset,
        }
        if record.timestamp_ms is not None:
            attributes[sc.KAFKA_TIMESTAMP_MS] = record.timestamp_ms
        if change is not None:
            attributes[sc.TABLE] = change.table
            attributes[sc.OP] = change.op
            if isinstance(change, RowChange):  # a truncate names no row
                attributes[sc.ROW_KEY] = ",".join(str(value) for value in change.key.values())
            attributes[sc.LSN] = change.lsn
            attributes[sc.COMMIT_MS] = change.committed_at_ms
        span = tracer().start_span(
            f"{sc.PROCESS} {record.topic}",
            # Never the current context (the batch span): a record without a
            # traceparent starts a trace of its own.
            context=context_from_headers(record.headers) if record.headers else _NO_PARENT,
            kind=SpanKind.CONSUMER,
            start_time=self.started_ns,
            attributes=attributes,
            links=self._links,
        )
        self._process[record.position] = span
        return span

    def traced(self, change: RowChange, record: RawRecord, span: Span) -> RowChange:
        """The change carrying its trace: this span's, else the record's own header."""
        if span.is_recording():
            self._by_trace[format(span.get_span_context().trace_id, "032x")] = span
            return replace(change, trace_context=mapping_of(span))
        parent = record.header("traceparent")
        if parent is None:
            return change
        context = {"traceparent": parent}
        if (state := record.header("tracestate")) is not None:
            context["tracestate"] = state
        return replace(change, trace_context=context)

    def dead_lettered(self, position: Position, reason: str) -> list[tuple[str, bytes]]:
        """Marks the record's span failed; returns the headers its dead letter carries."""
        span = self._process.get(position)
        if span is None or not span.is_recording():
            return []
        span.set_status(Status(StatusCode.ERROR, reason))
        span.set_attribute(sc.DEAD_LETTER_REASON, reason)
        span.set_attribute(sc.ERROR_TYPE, reason)
        return headers_of(span)

    def alert_parents(self, alerts: Iterable[Mapping[str, Any]]) -> dict[str, Context]:
        """alert_id -> the context of the process span of the change that raised it."""
        parents: dict[str, Context] = {}
        for alert in alerts:
            span = self._by_trace.get(str(alert.get("trace_id")))
            if span is not None:
                parents[str(alert["alert_id"])] = trace.set_span_in_context(span)
        return parents

    # -- per batch step --------------------------------------------------------------

    def decode(self, began_ns: int, records: int) -> None:
        self._step(sc.DECODE, began_ns, {sc.MESSAGING_BATCH_COUNT: records})

    def graph_write(
        self,
        changes: Sequence[RowChange],
        began_ns: int,
        rejected: int,
        *,
        ended_ns: int | None = None,
    ) -> None:
        """The write's span; `ended_ns` when it ended before now (it ran beside detect)."""
        if not changes:
            return
        self._step(
            sc.GRAPH_WRITE,
            began_ns,
            {sc.DB_SYSTEM: "neo4j", sc.DB_OPERATION: "merge", sc.DB_BATCH_SIZE: len(changes)},
            error=f"{rejected} rows rejected by Neo4j" if rejected else None,
            ended_ns=ended_ns,
        )

    def detect(
        self,
        began_ns: int,
        seconds_by_detector: Mapping[str, float],
        events: int,
        alerts: int,
        graph_reads: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        reads = graph_reads or {}
        attributes = {
            sc.EVENTS: events,
            sc.ALERTS: alerts,
            sc.GRAPH_READS: sum(trips for trips, _ in reads.values()),
            sc.GRAPH_READ_KEYS: sum(keys for _, keys in reads.values()),
        }
        span = self._step(sc.DETECT, began_ns, attributes)
        if not span.get_span_context().is_valid:
            return
        # Detectors interleave over the batch's events: their summed times are laid
        # end to end under detect (ended already: children may be added to it), in
        # the order they first ran.
        at = began_ns
        for rule, seconds in seconds_by_detector.items():
            took = int(seconds * 1e9)
            self._child(span, f"detector {rule}", at, at + took, {sc.DETECTOR: rule})
            at += took

    def finish(self) -> None:
        if not self.enabled:
            return
        ended = time.time_ns()
        for span in self._process.values():
            span.end(end_time=ended)
        self.batch.end(end_time=ended)

    def _step(
        self,
        name: str,
        began_ns: int,
        attributes: Mapping[str, Any],
        *,
        error: str | None = None,
        ended_ns: int | None = None,
    ) -> Span:
        if not self.batch.is_recording():
            return INVALID_SPAN
        ended = ended_ns if ended_ns is not None else time.time_ns()
        return self._child(self.batch, name, began_ns, ended, attributes, error=error)

    @staticmethod
    def _child(
        parent: Span,
        name: str,
        began_ns: int,
        ended_ns: int,
        attributes: Mapping[str, Any],
        *,
        error: str | None = None,
    ) -> Span:
        span = tracer().start_span(
            name,
            context=trace.set_span_in_context(parent),
            start_time=began_ns,
            attributes=attributes,
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=ended_ns)
        return span


def recheck_span(group: str | None, began_ns: int, events: int, alerts: int) -> None:
    """A shared group's second judgement of earlier batches, run between batches: a
    root span of its own (its alerts' `send` spans sit under the changes' traces)."""
    if not tracing_active() or not events:
        return
    attributes: dict[str, Any] = {sc.EVENTS: events, sc.ALERTS: alerts}
    if group:
        attributes[sc.MESSAGING_CONSUMER_GROUP] = group
    span = tracer().start_span(
        sc.RECHECK, context=_NO_PARENT, start_time=began_ns, attributes=attributes
    )
    span.end()


def parents_of(
    trace_contexts: Mapping[str, Mapping[str, str]],
) -> Callable[[Sequence[Mapping[str, Any]]], dict[str, Context]]:
    """For alerts raised after their batch's spans ended: alert_id -> the context of
    the process span of the change that raised it, kept with the change."""

    def parents(alerts: Sequence[Mapping[str, Any]]) -> dict[str, Context]:
        found: dict[str, Context] = {}
        for alert in alerts:
            carrier = trace_contexts.get(str(alert.get("trace_id")))
            if carrier is not None:
                found[str(alert["alert_id"])] = context_from_mapping(carrier)
        return found

    return parents
