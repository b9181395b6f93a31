"""The spans a batch leaves: one branch per record under its incoming trace, alerts under detect."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.engine import DetectionResult
from fraudgraph.detection.events import trace_id_of
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.stream.backoff import Backoff
from fraudgraph.stream.processor import BatchProcessor
from tests.unit.test_stream_processor import (
    TOPIC,
    TRACEPARENT,
    FakeDeadLetters,
    FakeGraph,
    Sleeps,
    customer_value,
    record,
)
from tests.unit.trace_support import recording_spans

INCOMING_TRACE = int(TRACEPARENT.split("-")[1], 16)
INCOMING_SPAN = int(TRACEPARENT.split("-")[2], 16)


class TracedDetection:
    """One alert per change, carrying the change's trace id as the engine does; when
    `shared`, the batch waits for a second judgement that raises one more per change."""

    def __init__(self, *, overlap: bool = False) -> None:
        self.shared = False
        self.overlap = overlap  # judged while the graph write runs
        self.waiting: list[Sequence[RowChange]] = []
        self.due = False

    def overlap_split(
        self, changes: Sequence[RowChange]
    ) -> tuple[list[RowChange], list[RowChange]]:
        return ([], list(changes)) if self.overlap else (list(changes), [])

    def reread(self, tables: Any) -> None:
        pass

    @property
    def pending(self) -> int:
        return len(self.waiting)

    def run(
        self, changes: Sequence[RowChange], *, in_flight: Sequence[RowChange] = ()
    ) -> DetectionResult:
        changes = [*changes, *in_flight]
        if self.shared:
            self.waiting.append(changes)
        return self._alerts(changes, "a")

    def recheck(self) -> tuple[DetectionResult, int]:
        result = DetectionResult()
        if not self.due:
            return result, 0
        for changes in self.waiting:
            again = self._alerts(changes, "again")
            result.alerts += again.alerts
            result.rechecked += len(changes)
            result.trace_contexts.update(
                (trace_id_of(c) or "", c.trace_context or {}) for c in changes
            )
        settled, self.waiting = len(self.waiting), []
        return result, settled

    @staticmethod
    def _alerts(changes: Sequence[RowChange], prefix: str) -> DetectionResult:
        result = DetectionResult(
            events=len(changes),
            seconds_by_detector={"rule_a": 0.001},
            graph_reads={"customers": (1, len(changes)), "reports": (1, 2 * len(changes))},
        )
        for change in changes:
            alert_id = f"{prefix}-{next(iter(change.key.values()))}"
            result.alerts.append({"alert_id": alert_id, "trace_id": trace_id_of(change)})
            result.decided.add(alert_id)
        return result

    def confirm(self, result: DetectionResult) -> None:
        pass

    def share_group(self, shared: bool) -> None:
        self.shared = shared


class ParentsSeen:
    def __init__(self) -> None:
        self.parents: dict[str, Context] = {}

    def send(
        self,
        alerts: Sequence[Any],
        shadow: bool = False,
        parents: Mapping[str, Context] | None = None,
    ) -> None:
        self.parents.update(parents or {})


def traced_processor(
    graph: FakeGraph, alerts: ParentsSeen | None = None, *, overlap: bool = False
) -> BatchProcessor:
    return BatchProcessor(
        default_mapping(),
        graph,
        FakeDeadLetters(),
        backoff=Backoff(initial_s=0.1, cap_s=1.0, _random=random.Random(7)),
        sleep=Sleeps(),
        detection=TracedDetection(overlap=overlap) if alerts else None,
        alerts=alerts,
        group="g1",
    )


def test_each_record_gets_a_process_span_under_the_trace_its_header_carried() -> None:
    with recording_spans() as recorded:
        traced = record(1, customer_value(1), headers=(("traceparent", TRACEPARENT.encode()),))
        untraced = record(2, customer_value(2))
        traced_processor(FakeGraph()).process([traced, untraced])
    first, second = recorded.named(f"process {TOPIC}")
    assert first.kind == SpanKind.CONSUMER
    assert first.context.trace_id == INCOMING_TRACE
    assert first.parent is not None and first.parent.span_id == INCOMING_SPAN
    assert second.parent is None  # a new trace for a record without context
    assert second.context.trace_id != INCOMING_TRACE
    attributes = first.attributes or {}
    assert attributes[sc.MESSAGING_SYSTEM] == "kafka"
    assert attributes[sc.MESSAGING_DESTINATION] == TOPIC
    assert attributes[sc.MESSAGING_PARTITION] == "2"
    assert attributes[sc.KAFKA_OFFSET] == 1
    assert attributes[sc.TABLE] == "customers"
    assert attributes[sc.ROW_KEY] == "1"
    assert attributes[sc.LSN] == 1001
    assert "email" not in str(attributes) and "Ada" not in str(attributes)  # no row values
    # The batch's steps are spans of the batch, linked from every record's span.
    (batch,) = recorded.named(sc.BATCH)
    assert (batch.attributes or {})[sc.MESSAGING_CONSUMER_GROUP] == "g1"
    assert [link.context.span_id for link in first.links] == [batch.context.span_id]
    assert [link.context.span_id for link in second.links] == [batch.context.span_id]
    for name in (sc.DECODE, sc.GRAPH_WRITE):
        (step,) = recorded.named(name)
        assert step.parent is not None and step.parent.span_id == batch.context.span_id
    (write,) = recorded.named(sc.GRAPH_WRITE)
    assert (write.attributes or {})[sc.DB_SYSTEM] == "neo4j"
    assert (write.attributes or {})[sc.DB_BATCH_SIZE] == 2
    assert len(recorded.spans()) == 5  # two records, the batch, decode and graph write


def test_alerts_are_parented_on_the_detect_span_of_the_change_that_raised_them() -> None:
    alerts = ParentsSeen()
    with recording_spans() as recorded:
        records = [record(n, customer_value(n)) for n in (1, 2)]
        traced_processor(FakeGraph(), alerts).process(records)
    processes = {p.context.span_id: p for p in recorded.named("process")}
    assert len(alerts.parents) == 2
    for alert_id, parent in alerts.parents.items():
        context = trace.get_current_span(parent).get_span_context()
        process = processes[context.span_id]
        assert (process.attributes or {})[sc.ROW_KEY] == alert_id.removeprefix("a-")
    (batch,) = recorded.named(sc.BATCH)
    (detect,) = [span for span in recorded.spans() if span.name == sc.DETECT]
    assert detect.parent is not None and detect.parent.span_id == batch.context.span_id
    # What the judgement read from the graph, summed over the cache's indexes.
    assert (detect.attributes or {})[sc.GRAPH_READS] == 2
    assert (detect.attributes or {})[sc.GRAPH_READ_KEYS] == 6
    (detector,) = recorded.named("detector rule_a")
    assert detector.parent is not None and detector.parent.span_id == detect.context.span_id


def test_an_overlapped_batch_keeps_the_write_and_detect_spans_and_the_alerts_parents() -> None:
    alerts = ParentsSeen()
    with recording_spans() as recorded:
        records = [record(n, customer_value(n)) for n in (1, 2)]
        outcome = traced_processor(FakeGraph(), alerts, overlap=True).process(records)
    assert outcome.overlapped
    (batch,) = recorded.named(sc.BATCH)
    steps = {span.name: span for span in recorded.spans() if span.parent is not None}
    for name in (sc.GRAPH_WRITE, sc.DETECT):
        assert steps[name].parent is not None
        assert steps[name].parent.span_id == batch.context.span_id
    assert sorted(alerts.parents) == ["a-1", "a-2"]


def test_alerts_of_a_second_judgement_are_parented_on_their_changes_process_spans() -> None:
    alerts = ParentsSeen()
    with recording_spans() as recorded:
        processor = traced_processor(FakeGraph(), alerts)
        processor.share_group(True)
        outcome = processor.process([record(n, customer_value(n)) for n in (1, 2)])
        assert outcome.settled == 0
        assert isinstance(processor.detection, TracedDetection)
        processor.detection.due = True
        assert processor.settle_due() == 1
    processes = {p.context.span_id: p for p in recorded.named("process")}
    again = {k: v for k, v in alerts.parents.items() if k.startswith("again-")}
    assert sorted(again) == ["again-1", "again-2"]
    for alert_id, parent in again.items():
        context = trace.get_current_span(parent).get_span_context()
        process = processes[context.span_id]
        assert (process.attributes or {})[sc.ROW_KEY] == alert_id.removeprefix("again-")
    (recheck,) = recorded.named(sc.RECHECK)
    assert recheck.parent is None
    assert (recheck.attributes or {})[sc.EVENTS] == 2
    assert (recheck.attributes or {})[sc.ALERTS] == 2


def test_a_dead_lettered_record_keeps_its_trace_and_its_span_says_why() -> None:
    letters = FakeDeadLetters()
    with recording_spans() as recorded:
        processor = BatchProcessor(default_mapping(), FakeGraph(), letters, sleep=Sleeps())
        processor.process(
            [record(5, b"{not json", headers=(("traceparent", TRACEPARENT.encode()),))]
        )
    (span,) = recorded.named("process")
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})[sc.DEAD_LETTER_REASON] == "malformed_json"
    (letter,) = letters.sent
    ((name, value),) = letter.trace_headers
    assert name == "traceparent"
    assert value.decode() == f"00-{INCOMING_TRACE:032x}-{span.context.span_id:016x}-01"


def test_with_tracing_off_the_change_keeps_the_incoming_trace_and_no_span_is_made() -> None:
    graph = FakeGraph()
    traced_processor(graph).process(
        [record(1, customer_value(1), headers=(("traceparent", TRACEPARENT.encode()),))]
    )
    (change,) = graph.applied
    assert change.trace_context == {"traceparent": TRACEPARENT}


def test_a_change_connect_did_not_sample_is_not_traced_but_keeps_its_trace_id() -> None:
    # Sampling is decided where a change's trace starts (Connect, OTEL_TRACES_SAMPLER);
    # the worker's default sampler follows the traceparent's flag, so at a ratio of
    # 0.01 it records the spans of one change in a hundred, not of every change.
    unsampled = TRACEPARENT[:-2] + "00"
    with recording_spans() as recorded:
        graph = FakeGraph()
        traced_processor(graph).process(
            [
                record(1, customer_value(1), headers=(("traceparent", unsampled.encode()),)),
                record(2, customer_value(2), headers=(("traceparent", TRACEPARENT.encode()),)),
            ]
        )
    (process,) = recorded.named(f"process {TOPIC}")
    assert process.context.trace_id == INCOMING_TRACE
    assert (process.attributes or {})[sc.KAFKA_OFFSET] == 2
    not_sampled, sampled = graph.applied
    assert not_sampled.trace_context == {"traceparent": unsampled}
    assert sampled.trace_context is not None
    assert sampled.trace_context["traceparent"].endswith("-01")
