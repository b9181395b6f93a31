"""The spans of one batch: one trace branch per record, under the trace its CDC record carried.

Each record gets a `process <topic>` consumer span, child of the context in its
`traceparent` header (Debezium's span when Connect traces, else a new root), with
children for decode, graph write and detect, and under detect a `send` span per
alert it raised. Graph write and detection work on the whole batch, so a record's
write and detect spans carry the batch step's start and end: the tree then reads
as that record's journey, and the batch's own `worker batch` span (linked from
each record's process span) holds the per-detector times once per batch.

Everything here is a no-op when tracing is off: no span objects, no attributes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode

from cdc.changes import Position, RowChange
from observability import trace_semconv as sc
from observability.tracing import context_from_headers, headers_of, mapping_of, tracer
from stream.records import RawRecord


def tracing_active() -> bool:
    """True once setup_tracing installed an SDK provider in this process."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


class BatchSpans:
    """Per-record spans of one batch, created and ended by BatchProcessor's steps."""

    def __init__(self, records: Sequence[RawRecord], group: str | None = None) -> None:
        self.enabled = tracing_active()
        self.group = group
        self.started_ns = time.time_ns()
        self.batch: Span = INVALID_SPAN
        self._process: dict[Position, Span] = {}
        self._detect: list[Span] = []
        self._detect_by_trace: dict[str, Span] = {}  # for the alerts they raise
        if self.enabled:
            self.batch = tracer().start_span(
                sc.BATCH,
                start_time=self.started_ns,
                attributes={sc.MESSAGING_BATCH_COUNT: len(records)},
            )

    # -- per record ------------------------------------------------------------------

    def open(self, record: RawRecord) -> Span:
        """The record's process span (not current: records of a batch are interleaved)."""
        if not self.enabled:
            return INVALID_SPAN
        attributes: dict[str, Any] = {
            sc.MESSAGING_SYSTEM: "kafka",
            sc.MESSAGING_OPERATION_TYPE: "process",
            sc.MESSAGING_OPERATION_NAME: "process",
            sc.MESSAGING_DESTINATION: record.topic,
            sc.MESSAGING_PARTITION: str(record.partition),
            sc.KAFKA_OFFSET: record.offset,
        }
        if self.group:
            attributes[sc.MESSAGING_CONSUMER_GROUP] = self.group
        if record.timestamp_ms is not None:
            attributes[sc.KAFKA_TIMESTAMP_MS] = record.timestamp_ms
        span = tracer().start_span(
            f"{sc.PROCESS} {record.topic}",
            context=context_from_headers(record.headers),
            kind=SpanKind.CONSUMER,
            start_time=self.started_ns,
            attributes=attributes,
            links=[Link(self.batch.get_span_context())],
        )
        self._process[record.position] = span
        return span

    def trace_context(self, record: RawRecord, span: Span) -> Mapping[str, str] | None:
        """What the decoded change carries as its trace: this span, else the record's header."""
        if span.is_recording():
            return mapping_of(span)
        parent = record.header("traceparent")
        if parent is None:
            return None
        context = {"traceparent": parent}
        if (state := record.header("tracestate")) is not None:
            context["tracestate"] = state
        return context

    def decoded(self, span: Span, change: RowChange | None, began_ns: int) -> None:
        if not span.is_recording():
            return
        ended = time.time_ns()
        self._child(span, sc.DECODE, began_ns, ended)
        if change is None:
            return
        span.set_attributes(
            {
                sc.TABLE: change.table,
                sc.OP: change.op,
                sc.ROW_KEY: ",".join(str(value) for value in change.key.values()),
                sc.LSN: change.lsn,
                sc.COMMIT_MS: change.committed_at_ms,
                sc.KAFKA_KEY: ",".join(str(value) for value in change.key.values()),
            }
        )

    def dead_lettered(self, position: Position, reason: str) -> list[tuple[str, bytes]]:
        """Marks the record's span failed; returns the headers its dead letter carries."""
        span = self._process.get(position)
        if span is None or not span.is_recording():
            return []
        span.set_status(Status(StatusCode.ERROR, reason))
        span.set_attribute(sc.DEAD_LETTER_REASON, reason)
        span.set_attribute(sc.ERROR_TYPE, reason)
        return headers_of(span)

    # -- per batch step, one child per record -------------------------------------------

    def graph_write(
        self, changes: Sequence[RowChange], began_ns: int, rejected: set[Position]
    ) -> None:
        if not self.enabled or not changes:
            return
        ended = time.time_ns()
        for change in changes:
            parent = self._process.get(change.position)
            if parent is None or not parent.is_recording():
                continue
            child = self._child(
                parent,
                sc.GRAPH_WRITE,
                began_ns,
                None,
                {
                    sc.DB_SYSTEM: "neo4j",
                    sc.DB_OPERATION: "delete" if change.is_delete else "merge",
                    sc.DB_BATCH_SIZE: len(changes),
                },
            )
            if change.position in rejected:
                child.set_status(Status(StatusCode.ERROR, "rejected by Neo4j"))
            child.end(end_time=ended)

    def open_detect(self, changes: Sequence[RowChange], began_ns: int) -> None:
        """Detect spans for the written changes; ended by `close_detect` after the alerts."""
        if not self.enabled:
            return
        for change in changes:
            parent = self._process.get(change.position)
            if parent is None or not parent.is_recording():
                continue
            span = self._child(parent, sc.DETECT, began_ns, None)
            self._detect.append(span)
            self._detect_by_trace[format(span.get_span_context().trace_id, "032x")] = span

    def alert_parents(self, alerts: Iterable[Mapping[str, Any]]) -> dict[str, Context]:
        """alert_id -> the context of the detect span of the change that raised it."""
        parents: dict[str, Context] = {}
        for alert in alerts:
            span = self._detect_by_trace.get(str(alert.get("trace_id")))
            if span is not None:
                parents[str(alert["alert_id"])] = trace.set_span_in_context(span)
        return parents

    def close_detect(
        self, seconds_by_detector: Mapping[str, float], events: int, alerts: int
    ) -> None:
        if not self.enabled:
            return
        ended = time.time_ns()
        for span in self._detect:
            span.end(end_time=ended)
        if self.batch.is_recording():
            self.batch.set_attributes({sc.EVENTS: events, sc.ALERTS: alerts})
            # Detectors run over the whole batch: their times belong to the batch span,
            # laid end to end in the order they first ran.
            at = ended - sum(int(s * 1e9) for s in seconds_by_detector.values())
            for rule, seconds in seconds_by_detector.items():
                took = int(seconds * 1e9)
                self._child(self.batch, f"detector {rule}", at, at + took, {sc.DETECTOR: rule})
                at += took

    def finish(self) -> None:
        if not self.enabled:
            return
        ended = time.time_ns()
        for span in self._process.values():
            span.end(end_time=ended)
        self.batch.end(end_time=ended)

    @staticmethod
    def _child(
        parent: Span,
        name: str,
        began_ns: int,
        ended_ns: int | None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span:
        span = tracer().start_span(
            name,
            context=trace.set_span_in_context(parent),
            start_time=began_ns,
            attributes=attributes,
        )
        if ended_ns is not None:
            span.end(end_time=ended_ns)
        return span
