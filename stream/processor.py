"""One batch of CDC records: decode, write to the graph, dead-letter what cannot be used,
then run the detectors over what was written and publish their alerts.

When `process` returns, every record of the batch is durably either in the graph
or on the dead-letter topic, and every alert it raised is on the alerts topic, so
the caller may commit their offsets. Plain Python: Faust (stream/app.py) only feeds
it batches and acks them afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class GraphSink(Protocol):
    def apply(self, changes: Sequence[RowChange]) -> WriteResult: ...

    def truncate(self, truncate: TableTruncate) -> TruncateResult: ...


class Detection(Protocol):
    def run(self, changes: Sequence[RowChange]) -> DetectionResult: ...

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
        changes: list[RowChange] = []
        truncates: list[tuple[TableTruncate, RawRecord]] = []
        letters: list[DeadLetter] = []
        by_position: dict[Position, RawRecord] = {}
        tombstones = 0
        began_ns = time.time_ns()
        for record in records:
            try:
                change = decode_record(record.value, record.position, self.mapping)
            except DecodeError as error:
                spans.open(record, None)
                letters.append(self._letter(spans, record, error.reason.value, error.detail))
                continue
            span = spans.open(record, change)
            if isinstance(change, TableTruncate):
                truncates.append((change, record))
                continue
            if change is not None:
                change = spans.traced(change, record, span)
            if change is None:
                tombstones += 1
                continue
            changes.append(change)
            by_position[change.position] = record
        spans.decode(began_ns, len(records))
        self._retries = 0
        began = time.perf_counter()
        began_ns = time.time_ns()
        # Truncates first: their fences are then in place when the batch's rows are
        # written, so rows older than a truncate are skipped, not written and removed.
        # Either order leaves the same graph (the fence is by LSN, not by arrival).
        letters += self._truncate(spans, truncates)
        rejections, fenced = self._write(changes)
        write_seconds = time.perf_counter() - began if changes else None
        rejected = {change.position for change, _ in rejections} | fenced
        spans.graph_write(changes, began_ns, len(rejected))
        for change, rejection in rejections:
            record = by_position[change.position]
            letters.append(self._letter(spans, record, Reason.CONSTRAINT.value, str(rejection)))
        self._send_letters(letters)
        if truncates and self.detection is not None:
            # What detectors hold of those tables' rows is gone from the graph.
            self.detection.truncated({truncate.table for truncate, _ in truncates})
        detection = self._detect([c for c in changes if c.position not in rejected], spans)
        observe_batch(changes, letters, write_seconds, detection)
        self._unsettled += 1
        return BatchOutcome(
            records=len(records),
            changes=len(changes),
            tombstones=tombstones,
            dead_letters=len(letters),
            retries=self._retries,
            detection=detection,
            settled=self._settle(),
            truncates=len(truncates),
        )

    def settle_due(self) -> int:
        """Between batches (a timer, so an idle stream settles too): the second
        judgements now due. Returns how many batches, oldest first, are settled."""
        return self._settle()

    def _settle(self) -> int:
        """Run the second judgements that are due (detection/engine.py `recheck`),
        publish what they raise, and count the batches that are now settled."""
        if self.detection is not None and self.detection.pending and self.alerts is not None:
            began_ns = time.time_ns()
            while True:
                try:
                    result, _ = self.detection.recheck()
                    break
                except GraphUnavailableError as error:
                    self._wait("detection read", error)
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

    def _detect(self, written: Sequence[RowChange], spans: BatchSpans) -> DetectionResult | None:
        """Detectors over the rows now in the graph; their alerts acknowledged by Kafka.

        Called for a batch with nothing written too: the detection engine keeps its
        shared-group second judgements in batch order (see `_settle`)."""
        if self.detection is None or self.alerts is None:
            return None
        began_ns = time.time_ns()
        while True:
            try:
                result = self.detection.run(written)
                break
            except GraphUnavailableError as error:
                self._wait("detection read", error)
        if not written:
            return None
        self._publish(result, spans.alert_parents)
        spans.detect(
            began_ns,
            result.seconds_by_detector,
            result.events,
            len(result.alerts) + len(result.shadow_alerts),
        )
        return result

    def _publish(
        self,
        result: DetectionResult,
        parents: Callable[[Sequence[Mapping[str, Any]]], Mapping[str, Context]],
    ) -> None:
        """The result's alerts acknowledged by Kafka, then marked sent."""
        assert self.detection is not None and self.alerts is not None
        for alerts, shadow in ((result.alerts, False), (result.shadow_alerts, True)):
            their_parents = parents(alerts)
            while alerts:
                try:
                    self.alerts.send(alerts, shadow=shadow, parents=their_parents)
                    break
                except RetryableError as error:
                    self._wait("alert produce", error)
        self.detection.confirm(result)
        self.backoff.reset()

    def _write(
        self, changes: Sequence[RowChange]
    ) -> tuple[list[tuple[RowChange, GraphWriteError]], frozenset[Position]]:
        """Apply `changes`; returns the ones Neo4j rejects on their own (after bisecting),
        and the positions of those a truncate had removed (not written)."""
        if not changes:
            return [], frozenset()
        while True:
            try:
                result = self.graph.apply(changes)
            except GraphUnavailableError as error:
                self._wait("graph write", error)
                continue
            except GraphWriteError as error:
                if len(changes) == 1:
                    return [(changes[0], error)], frozenset()
                # One bad row must not hold back the rest: halve until it is alone.
                middle = len(changes) // 2
                first, first_fenced = self._write(changes[:middle])
                second, second_fenced = self._write(changes[middle:])
                return first + second, first_fenced | second_fenced
            self.backoff.reset()
            return [], result.fenced

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
            while True:
                try:
                    applied = self.graph.truncate(truncate)
                    break
                except GraphUnavailableError as error:
                    self._wait("graph truncate", error)
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
                    applied = None
                    break
            if applied is None:
                continue
            self.backoff.reset()
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
        while letters:
            try:
                self.dead_letters.send(letters)
            except RetryableError as error:
                self._wait("dead-letter produce", error)
                continue
            for letter in letters:
                log.warning(
                    "dead_letter",
                    reason=letter.reason,
                    detail=letter.detail[:300],
                    topic=letter.record.topic,
                    partition=letter.record.partition,
                    offset=letter.record.offset,
                )
            self.backoff.reset()
            return

    def _wait(self, what: str, error: Exception) -> None:
        # Blocking here is the back-pressure: no new batch is taken while Neo4j or
        # Kafka is away, so memory stays bounded by the consumer's buffers.
        delay = self.backoff.next_delay()
        self._retries += 1
        metrics.WORKER_RETRIES.labels(what.replace(" ", "_")).inc()
        log.warning(f"{what}_retry", error=str(error)[:300], retry_in_s=round(delay, 2))
        self.sleep(delay)
