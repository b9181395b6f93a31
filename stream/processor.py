"""One batch of CDC records: decode, write to the graph, dead-letter what cannot be used,
then run the detectors over what was written and publish their alerts.

When `process` returns, every record of the batch is durably either in the graph
or on the dead-letter topic, and every alert it raised is on the alerts topic, so
the caller may commit their offsets. Plain Python: Faust (stream/app.py) only feeds
it batches and acks them afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import trace

from alerts.producer import AlertSink
from cdc.changes import Position, RowChange
from cdc.decode import decode_record
from cdc.errors import DecodeError, Reason
from detection.engine import DetectionResult
from fraudgraph.errors import RetryableError
from graph.errors import GraphUnavailableError, GraphWriteError
from graph.mapping import GraphMapping
from graph.writer import WriteResult
from observability import metrics
from observability.logs import get_logger
from stream.backoff import Backoff
from stream.deadletter import DeadLetter, DeadLetterSink
from stream.metrics import observe_batch
from stream.records import RawRecord
from stream.spans import BatchSpans

log = get_logger(__name__)


class GraphSink(Protocol):
    def apply(self, changes: Sequence[RowChange]) -> WriteResult: ...


class Detection(Protocol):
    def run(self, changes: Sequence[RowChange]) -> DetectionResult: ...

    def confirm(self, result: DetectionResult) -> None: ...

    def share_group(self, shared: bool) -> None: ...


@dataclass(frozen=True)
class BatchOutcome:
    records: int
    changes: int
    tombstones: int
    dead_letters: int
    retries: int  # waits for Neo4j or the dead-letter topic during this batch
    detection: DetectionResult | None = None


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
        rejections = self._write(changes)
        write_seconds = time.perf_counter() - began if changes else None
        rejected = {change.position for change, _ in rejections}
        spans.graph_write(changes, began_ns, len(rejected))
        for change, rejection in rejections:
            record = by_position[change.position]
            letters.append(self._letter(spans, record, Reason.CONSTRAINT.value, str(rejection)))
        self._send_letters(letters)
        detection = self._detect([c for c in changes if c.position not in rejected], spans)
        observe_batch(changes, letters, write_seconds, detection)
        return BatchOutcome(
            records=len(records),
            changes=len(changes),
            tombstones=tombstones,
            dead_letters=len(letters),
            retries=self._retries,
            detection=detection,
        )

    @staticmethod
    def _letter(spans: BatchSpans, record: RawRecord, reason: str, detail: str) -> DeadLetter:
        return DeadLetter(record, reason, detail, spans.dead_lettered(record.position, reason))

    def _detect(self, written: Sequence[RowChange], spans: BatchSpans) -> DetectionResult | None:
        """Detectors over the rows now in the graph; their alerts acknowledged by Kafka."""
        if self.detection is None or self.alerts is None or not written:
            return None
        began_ns = time.time_ns()
        while True:
            try:
                result = self.detection.run(written)
                break
            except GraphUnavailableError as error:
                self._wait("detection read", error)
        for alerts, shadow in ((result.alerts, False), (result.shadow_alerts, True)):
            parents = spans.alert_parents(alerts)
            while alerts:
                try:
                    self.alerts.send(alerts, shadow=shadow, parents=parents)
                    break
                except RetryableError as error:
                    self._wait("alert produce", error)
        spans.detect(
            began_ns,
            result.seconds_by_detector,
            result.events,
            len(result.alerts) + len(result.shadow_alerts),
        )
        self.detection.confirm(result)
        self.backoff.reset()
        return result

    def _write(self, changes: Sequence[RowChange]) -> list[tuple[RowChange, GraphWriteError]]:
        """Apply `changes`; returns the ones Neo4j rejects on their own (after bisecting)."""
        if not changes:
            return []
        while True:
            try:
                self.graph.apply(changes)
            except GraphUnavailableError as error:
                self._wait("graph write", error)
                continue
            except GraphWriteError as error:
                if len(changes) == 1:
                    return [(changes[0], error)]
                # One bad row must not hold back the rest: halve until it is alone.
                middle = len(changes) // 2
                return self._write(changes[:middle]) + self._write(changes[middle:])
            self.backoff.reset()
            return []

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
