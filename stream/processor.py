"""One batch of CDC records, in the order that makes committing its offsets safe.

`BatchProcessor._process` is the whole commit path, as numbered steps:

1. decode every record (what cannot be decoded becomes a dead letter);
2. apply the batch's truncates to the graph (their fences must stand first);
3. write the rows to Neo4j while the detectors judge them from the decoded batch
   and the worker's memory (`Detection.overlap_split`: rows it cannot stand in for,
   such as a customer's change, are written just before), else write, then detect;
4. publish the alerts, acknowledged by Kafka;
5. send the dead letters, acknowledged by Kafka;
6. report which batches are settled: their offsets may now be committed.

When `process` returns, every record of the batch is durably either in the graph
or on the dead-letter topic, and every alert it raised is on the alerts topic.
Waits for Neo4j or Kafka are one loop (`_retrying`); spans and metrics are taken
at the step boundaries. Plain Python: Faust (stream/app.py) only feeds it batches
and acks them afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context

from fraudgraph.alerts.producer import AlertSink
from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.cdc.decode import decode_record
from fraudgraph.cdc.errors import DecodeError, Reason
from fraudgraph.detection.engine import DetectionResult
from fraudgraph.errors import RetryableError
from fraudgraph.graph.errors import GraphUnavailableError, GraphWriteError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.graph.writer import TruncateResult, WriteResult
from fraudgraph.observability import metrics
from fraudgraph.observability.logs import get_logger
from fraudgraph.stream.backoff import Backoff
from fraudgraph.stream.deadletter import DeadLetter, DeadLetterSink
from fraudgraph.stream.metrics import observe_batch, observe_detection
from fraudgraph.stream.records import RawRecord
from fraudgraph.stream.spans import BatchSpans, parents_of, recheck_span

log = get_logger(__name__)
T = TypeVar("T")
Rejections = list[tuple[RowChange, GraphWriteError]]


class GraphSink(Protocol):
    def apply(self, changes: Sequence[RowChange]) -> WriteResult: ...

    def truncate(self, truncate: TableTruncate) -> TruncateResult: ...


class Detection(Protocol):
    def run(
        self, changes: Sequence[RowChange], *, in_flight: Sequence[RowChange] = ()
    ) -> DetectionResult: ...

    def overlap_split(
        self, changes: Sequence[RowChange]
    ) -> tuple[list[RowChange], list[RowChange]]: ...

    def reread(self, tables: Collection[str]) -> None: ...

    def recheck(self) -> tuple[DetectionResult, int]: ...

    @property
    def pending(self) -> int: ...

    def confirm(self, result: DetectionResult) -> None: ...

    def share_group(self, shared: bool) -> None: ...

    def truncated(self, tables: Collection[str]) -> None: ...


@dataclass(frozen=True)
class BatchOutcome:
    records: int
    changes: int
    tombstones: int
    dead_letters: int
    retries: int  # waits for Neo4j or the dead-letter topic during this batch
    detection: DetectionResult | None = None
    truncates: int = 0  # source-table truncates applied to the graph
    # Batches processed so far, oldest first, whose offsets may now be committed:
    # usually this one; in a shared group, the ones whose second judgement is done.
    settled: int = 1
    overlapped: int = 0  # changes judged while the graph wrote them (step 3)


@dataclass
class _Decoded:
    """Step 1's result: what to write, what to truncate, what could not be used."""

    changes: list[RowChange] = field(default_factory=list)
    truncates: list[tuple[TableTruncate, RawRecord]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    by_position: dict[Position, RawRecord] = field(default_factory=dict)
    tombstones: int = 0


@dataclass
class _Written:
    """Step 3's graph half: the rows Neo4j refused on their own, and those a truncate
    fenced off (not written)."""

    rejections: Rejections = field(default_factory=list)
    fenced: frozenset[Position] = frozenset()
    seconds: float | None = None
    began_ns: int = 0
    ended_ns: int = 0

    @property
    def refused(self) -> set[Position]:
        return {change.position for change, _ in self.rejections} | self.fenced

    def then(self, later: _Written) -> _Written:
        """This write and a later one of the same batch, as one."""
        if self.seconds is None:
            return later
        if later.seconds is None:
            return self
        return _Written(
            self.rejections + later.rejections,
            self.fenced | later.fenced,
            self.seconds + later.seconds,
            self.began_ns,
            later.ended_ns,
        )


class BatchProcessor:
    def __init__(
        self,
        mapping: GraphMapping,
        graph: GraphSink,
        dead_letters: DeadLetterSink,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        detection: Detection | None = None,
        alerts: AlertSink | None = None,
        group: str | None = None,
        overlap: bool = True,
    ) -> None:
        if (detection is None) != (alerts is None):
            raise ValueError("detection needs an alert sink, and an alert sink needs detection")
        self.mapping = mapping
        self.graph = graph
        self.dead_letters = dead_letters
        self.detection = detection
        self.alerts = alerts
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.group = group  # the consumer group, for the spans
        self.overlap = overlap  # step 3 may run the write and the detectors at once
        # The graph write of step 3 when it overlaps detection: Neo4j's driver blocks
        # on the network, which leaves the interpreter to the detectors meanwhile.
        self._graph_thread = ThreadPoolExecutor(1, thread_name_prefix="graph-write")
        self._retries = 0
        self._unsettled = 0  # batches processed, not yet reported settled

    def share_group(self, shared: bool) -> None:
        """Other workers now hold part of the group's partitions (or no longer do)."""
        if self.detection is not None:
            self.detection.share_group(shared)
        log.info("worker_group_shared" if shared else "worker_group_alone")

    def process(self, records: Sequence[RawRecord]) -> BatchOutcome:
        spans = BatchSpans(records, self.group)
        try:
            # Current for the batch: its log lines (retries, dead letters) carry its trace.
            with trace.use_span(spans.batch):
                return self._process(records, spans)
        finally:
            spans.finish()

    def _process(self, records: Sequence[RawRecord], spans: BatchSpans) -> BatchOutcome:
        self._retries = 0
        # 1. Decode.
        began_ns = time.time_ns()
        batch = self._decode(records, spans)
        spans.decode(began_ns, len(records))
        # 2. Truncates first: their fences are then in place when the batch's rows are
        # written, so rows older than a truncate are skipped, not written and removed.
        # Either order leaves the same graph (the fence is by LSN, not by arrival).
        batch.letters += self._truncate(spans, batch.truncates)
        if batch.truncates and self.detection is not None:
            # What detectors hold of those tables' rows is gone from the graph.
            self.detection.truncated({truncate.table for truncate, _ in batch.truncates})
        # 3. Write ∥ detect (else write, then detect what the graph accepted).
        first, in_flight = self._overlap_split(batch)
        if in_flight:
            written, detection = self._write_while_detecting(first, in_flight, spans)
        else:
            written = self._write_timed(batch.changes)
            refused = written.refused
            detection = self._detect([c for c in batch.changes if c.position not in refused], spans)
        spans.graph_write(
            batch.changes, written.began_ns, len(written.refused), ended_ns=written.ended_ns
        )
        for change, rejection in written.rejections:
            record = batch.by_position[change.position]
            batch.letters.append(
                self._letter(spans, record, Reason.CONSTRAINT.value, str(rejection))
            )
        # 4. Alerts, acknowledged.
        if detection is not None:
            self._publish(detection, spans.alert_parents)
        # 5. Dead letters, acknowledged.
        self._send_letters(batch.letters)
        observe_batch(batch.changes, batch.letters, written.seconds, detection)
        # 6. What may be committed now.
        self._unsettled += 1
        return BatchOutcome(
            records=len(records),
            changes=len(batch.changes),
            tombstones=batch.tombstones,
            dead_letters=len(batch.letters),
            retries=self._retries,
            detection=detection,
            settled=self._settle(),
            truncates=len(batch.truncates),
            overlapped=len(in_flight),
        )

    # -- step 1 ----------------------------------------------------------------------

    def _decode(self, records: Sequence[RawRecord], spans: BatchSpans) -> _Decoded:
        batch = _Decoded()
        for record in records:
            try:
                change = decode_record(record.value, record.position, self.mapping)
            except DecodeError as error:
                spans.open(record, None)
                batch.letters.append(self._letter(spans, record, error.reason.value, error.detail))
                continue
            span = spans.open(record, change)
            if isinstance(change, TableTruncate):
                batch.truncates.append((change, record))
                continue
            if change is not None:
                change = spans.traced(change, record, span)
            if change is None:
                batch.tombstones += 1
                continue
            batch.changes.append(change)
            batch.by_position[change.position] = record
        return batch

    # -- step 3 ----------------------------------------------------------------------

    def _overlap_split(self, batch: _Decoded) -> tuple[list[RowChange], list[RowChange]]:
        """(to write first, to judge while written); nothing in flight when the batch
        is written then judged."""
        if not self.overlap or self.detection is None or batch.truncates:
            return batch.changes, []
        return self.detection.overlap_split(batch.changes)

    def _write_while_detecting(
        self, first: Sequence[RowChange], in_flight: Sequence[RowChange], spans: BatchSpans
    ) -> tuple[_Written, DetectionResult | None]:
        """`first` written, then `in_flight` written on the graph thread while the
        detectors judge both on this one; both done on return.

        The detectors read the in-flight rows from the worker's memory, never from a
        graph that may not hold them yet. Should Neo4j refuse or fence one of them
        (rare: a constraint, a row older than a truncate), the judgement included rows
        the graph does not hold: it is thrown away unpublished, and the accepted rows
        are judged again the sequential way, against what the graph holds."""
        assert self.detection is not None
        before = self._write_timed(first)
        in_graph = [c for c in first if c.position not in before.refused]
        pending = self._graph_thread.submit(self._write_timed, in_flight)
        try:
            detection = self._detect(in_graph, spans, in_flight=in_flight)
        finally:
            during = pending.result()  # a detector's crash still waits for the write
        if during.refused:
            refused = during.refused
            log.warning("overlapped_judgement_redone", refused=len(refused))
            self.detection.reread({change.table for change in in_flight})
            accepted = [c for c in in_flight if c.position not in refused]
            detection = self._detect([*in_graph, *accepted], spans)
        return before.then(during), detection

    def _write_timed(self, changes: Sequence[RowChange]) -> _Written:
        if not changes:
            return _Written()
        began, began_ns = time.perf_counter(), time.time_ns()
        rejections, fenced = self._write(changes)
        return _Written(rejections, fenced, time.perf_counter() - began, began_ns, time.time_ns())

    def _write(self, changes: Sequence[RowChange]) -> tuple[Rejections, frozenset[Position]]:
        """Apply `changes`; returns the ones Neo4j rejects on their own (after bisecting),
        and the positions of those a truncate had removed (not written)."""
        if not changes:
            return [], frozenset()
        try:
            result = self._retrying("graph write", lambda: self.graph.apply(changes))
        except GraphWriteError as error:
            if len(changes) == 1:
                return [(changes[0], error)], frozenset()
            # One bad row must not hold back the rest: halve until it is alone.
            middle = len(changes) // 2
            first, first_fenced = self._write(changes[:middle])
            second, second_fenced = self._write(changes[middle:])
            return first + second, first_fenced | second_fenced
        return [], result.fenced

    def _detect(
        self,
        changes: Sequence[RowChange],
        spans: BatchSpans,
        *,
        in_flight: Sequence[RowChange] = (),
    ) -> DetectionResult | None:
        """The detectors' judgement of `changes`, not yet published.

        Called for a batch with nothing written too: the detection engine keeps its
        shared-group second judgements in batch order (see `_settle`)."""
        if self.detection is None:
            return None
        detection = self.detection
        began_ns = time.time_ns()
        result = self._retrying(
            "detection read",
            lambda: detection.run(changes, in_flight=in_flight),
            retry_on=GraphUnavailableError,
        )
        if not changes and not in_flight:
            return None
        spans.detect(
            began_ns,
            result.seconds_by_detector,
            result.events,
            len(result.alerts) + len(result.shadow_alerts),
            result.graph_reads,
        )
        return result

    # -- steps 4 to 6 ----------------------------------------------------------------

    def settle_due(self) -> int:
        """Between batches (a timer, so an idle stream settles too): the second
        judgements now due. Returns how many batches, oldest first, are settled."""
        return self._settle()

    def _settle(self) -> int:
        """Run the second judgements that are due (detection/engine.py `recheck`),
        publish what they raise, and count the batches that are now settled."""
        if self.detection is not None and self.detection.pending and self.alerts is not None:
            began_ns = time.time_ns()
            result, _ = self._retrying(
                "detection read", self.detection.recheck, retry_on=GraphUnavailableError
            )
            self._publish(result, parents_of(result.trace_contexts))
            observe_detection(result)
            alerts = len(result.alerts) + len(result.shadow_alerts)
            recheck_span(self.group, began_ns, result.rechecked, alerts)
        waiting = self.detection.pending if self.detection is not None else 0
        settled, self._unsettled = self._unsettled - waiting, waiting
        return settled

    @staticmethod
    def _letter(spans: BatchSpans, record: RawRecord, reason: str, detail: str) -> DeadLetter:
        return DeadLetter(record, reason, detail, spans.dead_lettered(record.position, reason))

    def _publish(
        self,
        result: DetectionResult,
        parents: Callable[[Sequence[Mapping[str, Any]]], Mapping[str, Context]],
    ) -> None:
        """The result's alerts acknowledged by Kafka, then marked sent."""
        assert self.detection is not None and self.alerts is not None
        alerts = self.alerts
        for batch, shadow in ((result.alerts, False), (result.shadow_alerts, True)):
            if not batch:
                continue
            their_parents = parents(batch)
            send = partial(alerts.send, batch, shadow=shadow, parents=their_parents)
            self._retrying("alert produce", send)
        self.detection.confirm(result)

    def _truncate(
        self, spans: BatchSpans, truncates: Sequence[tuple[TableTruncate, RawRecord]]
    ) -> list[DeadLetter]:
        """Apply each truncate to the graph (graph/writer.py `truncate`), loudly.

        Applied rather than dead-lettered: a truncate is a legitimate change of the
        source (`fraudgraph simulate --reset`, a retention job), and a graph that kept
        the rows would answer alerts' queries with rows the bank no longer has. A
        truncate Neo4j refuses whatever is retried goes to the dead-letter topic, with
        an error in the log: the graph then holds rows the source lost until it is
        replayed.
        """
        letters: list[DeadLetter] = []
        for truncate, record in truncates:
            try:
                applied = self._retrying("graph truncate", partial(self.graph.truncate, truncate))
            except GraphWriteError as error:
                log.exception(
                    "table_truncate_failed",
                    table=truncate.table,
                    lsn=truncate.lsn,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    error=str(error)[:300],
                )
                letters.append(
                    self._letter(spans, record, Reason.TRUNCATE_FAILED.value, str(error))
                )
                continue
            metrics.EVENTS.labels(record.topic, truncate.table, truncate.op).inc()
            metrics.TRUNCATES.labels(truncate.table).inc()
            metrics.TRUNCATE_REMOVED.labels(truncate.table).inc(
                applied.nodes + applied.relationships
            )
            # A warning on purpose: every row of a table left the graph at once.
            log.warning(
                "table_truncated",
                table=truncate.table,
                lsn=truncate.lsn,
                fence=applied.fence,
                committed_at_ms=truncate.committed_at_ms,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                nodes_removed=applied.nodes,
                relationships_removed=applied.relationships,
                markers_removed=applied.markers,
                transactions=applied.transactions,
            )
        return letters

    def _send_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        self._retrying("dead-letter produce", lambda: self.dead_letters.send(letters))
        for letter in letters:
            log.warning(
                "dead_letter",
                reason=letter.reason,
                detail=letter.detail[:300],
                topic=letter.record.topic,
                partition=letter.record.partition,
                offset=letter.record.offset,
            )

    def _retrying(
        self,
        what: str,
        call: Callable[[], T],
        *,
        retry_on: type[Exception] = RetryableError,
    ) -> T:
        """`call`, again after a backoff each time it raises `retry_on`, until it succeeds.

        The one retry loop of the commit path: any other error is the caller's."""
        while True:
            try:
                result = call()
            except retry_on as error:
                self._wait(what, error)
                continue
            self.backoff.reset()
            return result

    def _wait(self, what: str, error: Exception) -> None:
        # Blocking here is the back-pressure: no new batch is taken while Neo4j or
        # Kafka is away, so memory stays bounded by the consumer's buffers.
        delay = self.backoff.next_delay()
        self._retries += 1
        metrics.WORKER_RETRIES.labels(what.replace(" ", "_")).inc()
        log.warning(f"{what}_retry", error=str(error)[:300], retry_in_s=round(delay, 2))
        self.sleep(delay)
