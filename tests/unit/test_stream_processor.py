"""BatchProcessor with fake graph and dead-letter sinks: what is applied, retried, dead-lettered."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
import pytest

from fraudgraph.cdc.changes import RowChange, TableTruncate
from fraudgraph.detection.engine import DetectionResult
from fraudgraph.errors import RetryableError
from fraudgraph.graph.errors import GraphQueryError, GraphUnavailableError, GraphWriteError
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.writer import TruncateResult, WriteResult
from fraudgraph.stream.backoff import Backoff
from fraudgraph.stream.deadletter import DeadLetter
from fraudgraph.stream.processor import BatchOutcome, BatchProcessor
from fraudgraph.stream.records import RawRecord

TOPIC = "bank.public.customers"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeGraph:
    """A GraphSink: all-or-nothing like a transaction; scripted outages; rejects bad changes."""

    def __init__(
        self,
        outages: Sequence[Exception] = (),
        rejects: Callable[[RowChange], bool] = lambda change: False,
    ) -> None:
        self.outages = list(outages)
        self.rejects = rejects
        self.calls: list[list[RowChange]] = []
        self.applied: list[RowChange] = []
        self.truncates: list[TableTruncate] = []
        self.fences: dict[str, int] = {}

    def apply(self, changes: Sequence[RowChange]) -> WriteResult:
        self.calls.append(list(changes))
        if self.outages:
            raise self.outages.pop(0)
        if any(self.rejects(change) for change in changes):
            raise GraphWriteError("Neo4j rejected the batch: constraint violated")
        # As GraphWriter: what a truncate's fence covers is not written.
        fenced = [c for c in changes if c.lsn <= self.fences.get(c.table, -1)]
        self.applied.extend(c for c in changes if c not in fenced)
        return WriteResult(
            len(changes), len(changes) - len(fenced), 1, frozenset(c.position for c in fenced)
        )

    def truncate(self, truncate: TableTruncate) -> TruncateResult:
        if self.outages:
            raise self.outages.pop(0)
        self.truncates.append(truncate)
        fence = max(truncate.lsn, self.fences.get(truncate.table, -1))
        self.fences[truncate.table] = fence
        gone = [c for c in self.applied if c.table == truncate.table and c.lsn <= fence]
        self.applied = [c for c in self.applied if c not in gone]
        return TruncateResult(truncate.table, truncate.lsn, fence, len(gone), 0, 0, 2)

    def applied_keys(self) -> list[int]:
        return [next(iter(change.key.values())) for change in self.applied]


class FakeDeadLetters:
    """A DeadLetterSink that can fail a few times first."""

    def __init__(self, failures: Sequence[Exception] = ()) -> None:
        self.failures = list(failures)
        self.attempts: list[list[DeadLetter]] = []
        self.sent: list[DeadLetter] = []

    def send(self, letters: Sequence[DeadLetter]) -> None:
        self.attempts.append(list(letters))
        if self.failures:
            raise self.failures.pop(0)
        self.sent.extend(letters)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def customer_value(customer_id: int, *, table: str = "customers", lsn: int | None = None) -> bytes:
    after = {
        "customer_id": customer_id,
        "full_name": "Ada",
        "email": f"user{customer_id}@example.com",
        "phone": None,
        "national_id": None,
        "date_of_birth": 7338,
        "address_line": None,
        "city": "London",
        "postal_code": None,
        "country": "GB",
        "created_at": "2026-10-01T10:34:56Z",
        "updated_at": "2026-10-01T10:34:56Z",
    }
    return orjson.dumps(
        {
            "before": None,
            "after": after,
            "source": {"table": table, "lsn": lsn or 1000 + customer_id, "ts_ms": 1},
            "op": "c",
        }
    )


def record(
    offset: int,
    value: bytes | None,
    *,
    headers: tuple[tuple[str, bytes], ...] = (),
    partition: int = 2,
) -> RawRecord:
    return RawRecord(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=orjson.dumps({"customer_id": offset}),
        value=value,
        headers=headers,
    )


def processor(
    graph: FakeGraph, letters: FakeDeadLetters | None = None, sleeps: Sleeps | None = None
) -> BatchProcessor:
    return BatchProcessor(
        default_mapping(),
        graph,
        letters if letters is not None else FakeDeadLetters(),
        backoff=Backoff(initial_s=0.1, cap_s=1.0, _random=random.Random(7)),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def good_records(*ids: int) -> list[RawRecord]:
    return [record(i, customer_value(i)) for i in ids]


# --- decoding failures ------------------------------------------------------------------


def test_good_events_are_applied_and_bad_ones_dead_lettered_whole() -> None:
    graph, letters = FakeGraph(), FakeDeadLetters()
    malformed = record(11, b'{"op": "c", "after": {', headers=(("source", b"bank"),))
    unknown = record(12, customer_value(12, table="payroll"))
    batch = [*good_records(10), malformed, *good_records(13), unknown, *good_records(14)]

    outcome = processor(graph, letters).process(batch)

    assert graph.applied_keys() == [10, 13, 14]
    assert [letter.reason for letter in letters.sent] == ["malformed_json", "unknown_table"]
    assert letters.sent[0].record is malformed
    assert letters.sent[1].record is unknown
    for letter, original in zip(letters.sent, (malformed, unknown), strict=True):
        sent = letter.record
        assert (sent.topic, sent.partition, sent.offset) == (TOPIC, 2, original.offset)
        assert (sent.key, sent.value, sent.headers) == (
            original.key,
            original.value,
            original.headers,
        )
    assert "payroll" in letters.sent[1].detail
    assert outcome == BatchOutcome(records=5, changes=3, tombstones=0, dead_letters=2, retries=0)


def test_applied_changes_keep_their_kafka_position() -> None:
    graph = FakeGraph()
    processor(graph).process(good_records(3, 4))
    assert [(c.position.topic, c.position.partition, c.position.offset) for c in graph.applied] == [
        (TOPIC, 2, 3),
        (TOPIC, 2, 4),
    ]


def test_a_batch_of_only_bad_events_never_calls_the_graph() -> None:
    graph, letters = FakeGraph(), FakeDeadLetters()
    outcome = processor(graph, letters).process([record(1, b"[]"), record(2, b"nope")])
    assert graph.calls == []
    assert [letter.reason for letter in letters.sent] == ["not_an_envelope", "malformed_json"]
    assert outcome.dead_letters == 2


def test_an_empty_batch_does_nothing() -> None:
    graph, letters = FakeGraph(), FakeDeadLetters()
    outcome = processor(graph, letters).process([])
    assert graph.calls == []
    assert letters.attempts == []
    assert outcome == BatchOutcome(0, 0, 0, 0, 0)


def test_a_clean_batch_sends_no_dead_letters() -> None:
    graph, letters = FakeGraph(), FakeDeadLetters()
    processor(graph, letters).process(good_records(1, 2, 3))
    assert len(graph.calls) == 1
    assert letters.attempts == []


def test_tombstones_are_counted_not_dead_lettered_nor_written() -> None:
    graph, letters = FakeGraph(), FakeDeadLetters()
    batch = [*good_records(1), record(2, None), record(3, None)]
    outcome = processor(graph, letters).process(batch)
    assert outcome.tombstones == 2
    assert outcome.changes == 1
    assert outcome.dead_letters == 0
    assert letters.sent == []
    assert graph.applied_keys() == [1]


# --- graph outages ----------------------------------------------------------------------


def test_graph_unavailable_is_retried_with_the_injected_sleep() -> None:
    graph = FakeGraph(outages=[GraphUnavailableError("down"), GraphUnavailableError("leader")])
    letters, sleeps = FakeDeadLetters(), Sleeps()
    proc = processor(graph, letters, sleeps)

    outcome = proc.process(good_records(1, 2, 3))

    assert len(sleeps.delays) == 2
    assert 0.05 <= sleeps.delays[0] <= 0.1
    assert 0.1 <= sleeps.delays[1] <= 0.2
    assert len(graph.calls) == 3
    assert all(call == graph.calls[0] for call in graph.calls)  # the same batch each time
    assert graph.applied_keys() == [1, 2, 3]
    assert letters.attempts == []
    assert outcome.retries == 2
    assert outcome.dead_letters == 0
    assert proc.backoff.attempt == 0  # reset once the write went through


def test_retries_are_counted_per_batch() -> None:
    graph = FakeGraph(outages=[GraphUnavailableError("down")])
    proc = processor(graph)
    assert proc.process(good_records(1)).retries == 1
    assert proc.process(good_records(2)).retries == 0


def test_a_graph_query_error_propagates_and_nothing_is_dead_lettered() -> None:
    graph = FakeGraph(outages=[GraphQueryError("Neo4j refused a statement: SyntaxError")])
    letters, sleeps = FakeDeadLetters(), Sleeps()
    batch = [*good_records(1, 2), record(3, b"{bad")]
    with pytest.raises(GraphQueryError):
        processor(graph, letters, sleeps).process(batch)
    assert len(graph.calls) == 1  # no bisection, no retry: our bug, not the data's
    assert letters.sent == []
    assert sleeps.delays == []


def test_an_unexpected_error_propagates_too() -> None:
    graph = FakeGraph(outages=[RuntimeError("boom")])
    letters = FakeDeadLetters()
    with pytest.raises(RuntimeError, match="boom"):
        processor(graph, letters).process(good_records(1))
    assert letters.sent == []


# --- rejected changes -------------------------------------------------------------------


def rejects_keys(*bad: int) -> Callable[[RowChange], bool]:
    return lambda change: next(iter(change.key.values())) in bad


@pytest.mark.parametrize("bad_index", [0, 3, 6])
def test_bisection_isolates_the_rejected_change(bad_index: int) -> None:
    ids = list(range(100, 107))
    bad_id = ids[bad_index]
    graph, letters, sleeps = FakeGraph(rejects=rejects_keys(bad_id)), FakeDeadLetters(), Sleeps()
    batch = good_records(*ids)

    outcome = processor(graph, letters, sleeps).process(batch)

    assert sorted(graph.applied_keys()) == [i for i in ids if i != bad_id]
    assert len(graph.applied) == len(ids) - 1  # each good change applied exactly once
    assert len(letters.sent) == 1
    (letter,) = letters.sent
    assert letter.reason == "constraint_violation"
    assert letter.record is batch[bad_index]
    assert "constraint violated" in letter.detail
    assert sleeps.delays == []  # a rejection is not an outage
    assert outcome.dead_letters == 1
    assert outcome.changes == len(ids)


def test_a_lone_rejected_change_is_dead_lettered_without_bisecting() -> None:
    graph, letters = FakeGraph(rejects=rejects_keys(5)), FakeDeadLetters()
    batch = good_records(5)
    processor(graph, letters).process(batch)
    assert len(graph.calls) == 1
    assert [(letter.reason, letter.record) for letter in letters.sent] == [
        ("constraint_violation", batch[0])
    ]


def test_two_rejected_changes_are_both_dead_lettered_with_decode_failures() -> None:
    graph, letters = FakeGraph(rejects=rejects_keys(2, 6)), FakeDeadLetters()
    batch = [*good_records(1, 2, 3, 4), record(99, b"{"), *good_records(5, 6)]
    outcome = processor(graph, letters).process(batch)
    assert sorted(graph.applied_keys()) == [1, 3, 4, 5]
    assert sorted((letter.reason, letter.record.offset) for letter in letters.sent) == [
        ("constraint_violation", 2),
        ("constraint_violation", 6),
        ("malformed_json", 99),
    ]
    assert outcome.dead_letters == 3


def test_an_outage_during_bisection_is_retried() -> None:
    class FlakyGraph(FakeGraph):
        def apply(self, changes: Sequence[RowChange]) -> WriteResult:
            if len(self.calls) == 1:  # the first half-batch hits a leader switch
                self.calls.append(list(changes))
                raise GraphUnavailableError("leader switch")
            return super().apply(changes)

    graph, letters, sleeps = FlakyGraph(rejects=rejects_keys(4)), FakeDeadLetters(), Sleeps()
    processor(graph, letters, sleeps).process(good_records(1, 2, 3, 4))
    assert sorted(graph.applied_keys()) == [1, 2, 3]
    assert [letter.record.offset for letter in letters.sent] == [4]
    assert len(sleeps.delays) == 1


# --- dead-letter outages ----------------------------------------------------------------


def test_dead_letter_sink_failures_are_retried() -> None:
    letters = FakeDeadLetters(failures=[RetryableError("dead-letter topic: 1 unacknowledged")])
    sleeps = Sleeps()
    bad = record(1, b"{")
    processor(FakeGraph(), letters, sleeps).process([bad, *good_records(2)])
    assert len(letters.attempts) == 2
    assert letters.attempts[0] == letters.attempts[1]
    assert [letter.record for letter in letters.sent] == [bad]
    assert len(sleeps.delays) == 1


def test_a_fatal_dead_letter_failure_propagates() -> None:
    letters = FakeDeadLetters(failures=[ValueError("serialisation")])
    with pytest.raises(ValueError, match="serialisation"):
        processor(FakeGraph(), letters).process([record(1, b"{")])


# --- trace context ----------------------------------------------------------------------


def only_applied(graph: FakeGraph) -> RowChange:
    (change,) = graph.applied
    return change


def test_traceparent_header_travels_into_the_change() -> None:
    graph = FakeGraph()
    headers = (("other", b"x"), ("traceparent", TRACEPARENT.encode()))
    processor(graph).process([record(1, customer_value(1), headers=headers)])
    assert only_applied(graph).trace_context == {"traceparent": TRACEPARENT}


def test_tracestate_travels_with_traceparent() -> None:
    graph = FakeGraph()
    headers = (("traceparent", TRACEPARENT.encode()), ("tracestate", b"vendor=abc"))
    processor(graph).process([record(1, customer_value(1), headers=headers)])
    assert only_applied(graph).trace_context == {
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=abc",
    }


@pytest.mark.parametrize("headers", [(), (("tracestate", b"vendor=abc"),)])
def test_no_traceparent_means_no_trace_context(headers: tuple[tuple[str, bytes], ...]) -> None:
    graph = FakeGraph()
    processor(graph).process([record(1, customer_value(1), headers=headers)])
    assert only_applied(graph).trace_context is None


def test_a_non_utf8_traceparent_does_not_break_decoding() -> None:
    graph = FakeGraph()
    headers = (("traceparent", b"\xff\xfe00"),)
    processor(graph).process([record(1, customer_value(1), headers=headers)])
    context: Any = only_applied(graph).trace_context
    assert context["traceparent"].endswith("00")


# --- detection after the write ----------------------------------------------------------


class FakeDetection:
    """Raises one alert per change it sees; records what it was shown and confirmed."""

    def __init__(self, outages: Sequence[Exception] = (), *, overlap: bool = False) -> None:
        self.outages = list(outages)
        self.overlap = overlap  # whether overlap_split puts anything in flight
        self.in_flight: list[int] = []  # per run: how many changes were in flight
        self.reread_tables: list[set[str]] = []
        self.seen: list[RowChange] = []
        self.confirmed: list[DetectionResult] = []
        self.shared = False
        self.waiting: list[Sequence[RowChange]] = []  # batches, oldest first
        self.due = 0  # how many of them a recheck may judge again now

    @property
    def pending(self) -> int:
        return len(self.waiting)

    def recheck(self) -> tuple[DetectionResult, int]:
        if self.outages:
            raise self.outages.pop(0)
        due, self.waiting = self.waiting[: self.due], self.waiting[self.due :]
        self.due = 0
        result = DetectionResult()
        for change in (c for batch in due for c in batch):
            key = next(iter(change.key.values()))
            result.alerts.append({"alert_id": f"again-{key}"})
            result.decided.add(f"again-{key}")
            result.rechecked += 1
        return result, len(due)

    def overlap_split(
        self, changes: Sequence[RowChange]
    ) -> tuple[list[RowChange], list[RowChange]]:
        # Even keys can be judged in flight (when overlapping), odd ones go first.
        if not self.overlap:
            return list(changes), []
        first = [c for c in changes if next(iter(c.key.values())) % 2]
        return first, [c for c in changes if not next(iter(c.key.values())) % 2]

    def reread(self, tables: Any) -> None:
        self.reread_tables.append(set(tables))
        self.seen.clear()

    def run(
        self, changes: Sequence[RowChange], *, in_flight: Sequence[RowChange] = ()
    ) -> DetectionResult:
        self.in_flight.append(len(in_flight))
        changes = [*changes, *in_flight]
        if self.outages:
            raise self.outages.pop(0)
        if self.shared:
            self.waiting.append(changes)
        self.seen.extend(changes)
        result = DetectionResult()
        for change in changes:
            key = next(iter(change.key.values()))
            result.alerts.append({"alert_id": f"a-{key}"})
            result.decided.add(f"a-{key}")
        result.shadow_alerts.append({"alert_id": "shadow-1"})
        return result

    def confirm(self, result: DetectionResult) -> None:
        self.confirmed.append(result)

    def share_group(self, shared: bool) -> None:
        self.shared = shared

    def truncated(self, tables: Any) -> None:
        self.truncated_tables = set(tables)
        self.seen = [c for c in self.seen if c.table not in tables]


class FakeAlerts:
    def __init__(self, failures: Sequence[Exception] = (), log: list[str] | None = None) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[bool, list[dict[str, Any]]]] = []
        self.log = log

    def send(
        self, alerts: Sequence[Any], shadow: bool = False, parents: Mapping[str, Any] | None = None
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((shadow, [dict(a) for a in alerts]))


def detecting_processor(
    graph: FakeGraph, detection: FakeDetection, alerts: FakeAlerts, sleeps: Sleeps
) -> BatchProcessor:
    return BatchProcessor(
        default_mapping(),
        graph,
        FakeDeadLetters(),
        backoff=Backoff(initial_s=0.1, cap_s=1.0, _random=random.Random(7)),
        sleep=sleeps,
        detection=detection,
        alerts=alerts,
    )


def test_detection_sees_only_rows_the_graph_accepted_and_alerts_go_out_before_return() -> None:
    graph = FakeGraph(rejects=lambda change: change.key["customer_id"] == 3)
    detection, alerts, sleeps = FakeDetection(), FakeAlerts(), Sleeps()
    outcome = detecting_processor(graph, detection, alerts, sleeps).process(good_records(1, 2, 3))
    assert sorted(c.key["customer_id"] for c in detection.seen) == [1, 2]
    assert alerts.sent == [
        (False, [{"alert_id": "a-1"}, {"alert_id": "a-2"}]),
        (True, [{"alert_id": "shadow-1"}]),
    ]
    assert len(detection.confirmed) == 1
    assert outcome.detection is detection.confirmed[0]


def test_alert_produce_failures_are_retried_and_confirmed_only_after_success() -> None:
    detection = FakeDetection()
    alerts = FakeAlerts(failures=[RetryableError("broker away"), RetryableError("still away")])
    sleeps = Sleeps()
    detecting_processor(FakeGraph(), detection, alerts, sleeps).process(good_records(1))
    assert [shadow for shadow, _ in alerts.sent] == [False, True]
    assert len(sleeps.delays) == 2
    assert len(detection.confirmed) == 1


def test_graph_outage_during_detection_waits_and_detects_again() -> None:
    detection = FakeDetection(outages=[GraphUnavailableError("down")])
    alerts, sleeps = FakeAlerts(), Sleeps()
    detecting_processor(FakeGraph(), detection, alerts, sleeps).process(good_records(1))
    assert [c.key["customer_id"] for c in detection.seen] == [1]
    assert len(sleeps.delays) == 1


def test_detection_needs_an_alert_sink() -> None:
    with pytest.raises(ValueError, match="alert sink"):
        BatchProcessor(default_mapping(), FakeGraph(), FakeDeadLetters(), detection=FakeDetection())


# --- a shared group's second judgement ------------------------------------------------


def test_a_lone_worker_settles_each_batch_as_it_is_processed() -> None:
    processor = detecting_processor(FakeGraph(), FakeDetection(), FakeAlerts(), Sleeps())
    assert [processor.process(good_records(n)).settled for n in (1, 2)] == [1, 1]


def test_in_a_shared_group_batches_settle_after_their_second_judgement_in_order() -> None:
    detection, alerts = FakeDetection(), FakeAlerts()
    processor = detecting_processor(FakeGraph(), detection, alerts, Sleeps())
    processor.share_group(True)
    assert processor.process(good_records(1)).settled == 0
    # A batch of nothing but poison still takes its place in the order.
    assert processor.process([record(9, b"{not json")]).settled == 0
    assert processor.process(good_records(2)).settled == 0
    assert processor.settle_due() == 0  # nothing due yet
    detection.due = 2
    assert processor.settle_due() == 2
    assert alerts.sent[-1] == (False, [{"alert_id": "again-1"}])
    assert detection.confirmed[-1].alerts == [{"alert_id": "again-1"}]
    detection.due = 1
    outcome = processor.process(good_records(3))  # a batch also settles what fell due
    assert outcome.settled == 1
    assert detection.pending == 1


def test_a_graph_outage_during_the_second_judgement_waits_and_judges_again() -> None:
    detection, alerts, sleeps = FakeDetection(), FakeAlerts(), Sleeps()
    processor = detecting_processor(FakeGraph(), detection, alerts, sleeps)
    processor.share_group(True)
    processor.process(good_records(1))
    detection.outages.append(GraphUnavailableError("down"))
    detection.due = 1
    assert processor.settle_due() == 1
    assert len(sleeps.delays) == 1
    assert (False, [{"alert_id": "again-1"}]) in alerts.sent


# --- truncates ----------------------------------------------------------------------------


def truncate_value(table: str, lsn: int) -> bytes:
    source = {"table": table, "lsn": lsn, "ts_ms": 1, "txId": 9}
    return orjson.dumps({"before": None, "after": None, "source": source, "op": "t"})


def truncate_record(offset: int, table: str, lsn: int) -> RawRecord:
    # Debezium sends a truncate with a null key: one partition, whichever it lands in.
    return RawRecord(TOPIC, 0, offset, None, truncate_value(table, lsn), ())


def test_a_truncate_is_applied_before_the_batch_rows_and_fences_older_ones_off() -> None:
    graph = FakeGraph()
    detection, alerts, sleeps = FakeDetection(), FakeAlerts(), Sleeps()
    worker = detecting_processor(graph, detection, alerts, sleeps)
    worker.process(good_records(1, 2))  # LSNs 1001, 1002
    batch = [
        record(3, customer_value(3, lsn=1003)),  # committed before the truncate
        truncate_record(50, "customers", 1500),
        record(4, customer_value(4, lsn=1600)),  # inserted after it
    ]
    outcome = worker.process(batch)
    assert [(t.table, t.lsn) for t in graph.truncates] == [("customers", 1500)]
    assert graph.applied_keys() == [4]
    assert outcome.truncates == 1 and outcome.dead_letters == 0
    # Detection forgets the table and never judges the row the truncate removed.
    assert detection.truncated_tables == {"customers"}
    assert [c.key["customer_id"] for c in detection.seen] == [4]
    # An older change from another partition, processed after the truncate, stays out.
    worker.process([record(5, customer_value(5, lsn=1400), partition=1)])
    assert graph.applied_keys() == [4]
    assert [c.key["customer_id"] for c in detection.seen] == [4]


def test_a_redelivered_truncate_changes_nothing() -> None:
    graph = FakeGraph()
    worker = processor(graph)
    batch = [truncate_record(50, "customers", 1500), record(4, customer_value(4, lsn=1600))]
    worker.process(batch)
    worker.process(batch)
    assert set(graph.applied_keys()) == {4}  # the fake logs writes: 4 rewritten, alone
    assert graph.fences == {"customers": 1500}


def test_a_truncate_waits_for_neo4j_and_a_refused_one_is_dead_lettered_loudly() -> None:
    graph, letters, sleeps = FakeGraph(), FakeDeadLetters(), Sleeps()
    graph.outages = [GraphUnavailableError("down"), GraphWriteError("refused")]
    outcome = processor(graph, letters, sleeps).process(
        [truncate_record(50, "customers", 1500), truncate_record(51, "accounts", 1500)]
    )
    # The first waits out the outage and is then refused; the second is applied.
    assert len(sleeps.delays) == 1
    assert [letter.reason for letter in letters.sent] == ["truncate_failed"]
    assert letters.sent[0].record.offset == 50
    assert [t.table for t in graph.truncates] == ["accounts"]
    assert outcome.dead_letters == 1 and outcome.truncates == 2


# --- step 3: the graph write and the detectors at once -----------------------------------


class BlockingGraph(FakeGraph):
    """Holds each write until the detectors have started judging the same batch."""

    def __init__(self, detecting: threading.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detecting = detecting
        self.waited: list[bool] = []

    def apply(self, changes: Sequence[RowChange]) -> WriteResult:
        self.waited.append(self.detecting.wait(timeout=10))
        return super().apply(changes)


class SignallingDetection(FakeDetection):
    def __init__(self, detecting: threading.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detecting = detecting

    def run(
        self, changes: Sequence[RowChange], *, in_flight: Sequence[RowChange] = ()
    ) -> DetectionResult:
        self.detecting.set()
        return super().run(changes, in_flight=in_flight)


def test_what_can_be_judged_in_flight_is_judged_while_the_graph_writes_it() -> None:
    detecting = threading.Event()
    graph = BlockingGraph(detecting)
    detection, alerts = SignallingDetection(detecting, overlap=True), FakeAlerts()
    outcome = detecting_processor(graph, detection, alerts, Sleeps()).process(
        good_records(1, 2, 3, 4)
    )
    # Odd keys were written first, before detection started (the wait timed out);
    # the even ones waited for detection to start: the two ran at once.
    assert graph.waited == [False, True]
    assert [[next(iter(c.key.values())) for c in call] for call in graph.calls] == [[1, 3], [2, 4]]
    assert outcome.overlapped == 2 and detection.in_flight == [2]
    assert sorted(c.key["customer_id"] for c in detection.seen) == [1, 2, 3, 4]
    assert len(alerts.sent[0][1]) == 4 and len(detection.confirmed) == 1


def test_a_batch_the_cache_cannot_stand_in_for_is_written_first() -> None:
    detection, alerts = FakeDetection(overlap=False), FakeAlerts()
    outcome = detecting_processor(FakeGraph(), detection, alerts, Sleeps()).process(
        good_records(1, 2)
    )
    assert outcome.overlapped == 0 and detection.in_flight == [0]


def test_a_row_refused_while_judged_in_flight_is_judged_again_without_it() -> None:
    graph = FakeGraph(rejects=lambda change: change.key["customer_id"] == 4)
    detection, alerts = FakeDetection(overlap=True), FakeAlerts()
    outcome = detecting_processor(graph, detection, alerts, Sleeps()).process(
        good_records(1, 2, 3, 4)
    )
    assert detection.in_flight == [2, 0]
    assert detection.reread_tables == [{"customers"}]
    assert sorted(c.key["customer_id"] for c in detection.seen) == [1, 2, 3]
    # Only the second judgement was published: no alert names the refused row.
    assert sorted(a["alert_id"] for a in alerts.sent[0][1]) == ["a-1", "a-2", "a-3"]
    assert outcome.dead_letters == 1 and len(detection.confirmed) == 1


def test_a_row_refused_among_those_written_first_is_never_judged() -> None:
    graph = FakeGraph(rejects=lambda change: change.key["customer_id"] == 3)
    detection, alerts = FakeDetection(overlap=True), FakeAlerts()
    outcome = detecting_processor(graph, detection, alerts, Sleeps()).process(
        good_records(1, 2, 3, 4)
    )
    assert detection.in_flight == [2] and detection.reread_tables == []
    assert sorted(c.key["customer_id"] for c in detection.seen) == [1, 2, 4]
    assert outcome.dead_letters == 1


def test_a_graph_outage_during_an_overlapped_write_is_waited_out() -> None:
    graph = FakeGraph(outages=[GraphUnavailableError("leader switch")])
    detection, alerts, sleeps = FakeDetection(overlap=True), FakeAlerts(), Sleeps()
    outcome = detecting_processor(graph, detection, alerts, sleeps).process(good_records(2))
    assert graph.applied_keys() == [2] and len(sleeps.delays) == 1
    assert outcome.overlapped == 1 and outcome.retries == 1
