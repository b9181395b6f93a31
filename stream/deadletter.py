"""The dead-letter topic: events the processor cannot use, kept whole with the reason.

The original key, value and headers are copied unchanged (so a fixed event can be
replayed as is); the reason and the source coordinates travel as `dlq.*` headers,
as Kafka Connect does for its own dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from confluent_kafka import KafkaError, Producer

from fraudgraph.errors import RetryableError
from fraudgraph.observability.logs import kafka_client_logger
from fraudgraph.stream.records import RawRecord


@dataclass(frozen=True)
class DeadLetter:
    record: RawRecord
    reason: str
    detail: str
    # traceparent/tracestate of the record's process span: the letter stays in its trace.
    trace_headers: Sequence[tuple[str, bytes]] = ()


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Durably store the letters; raise if that is not certain."""


def dead_letter_headers(
    letter: DeadLetter, failed_at: datetime
) -> list[tuple[str, str | bytes | None]]:
    record = letter.record
    context = {
        "dlq.reason": letter.reason,
        "dlq.detail": letter.detail[:2000],
        "dlq.topic": record.topic,
        "dlq.partition": str(record.partition),
        "dlq.offset": str(record.offset),
        "dlq.failed_at": failed_at.isoformat(),
    }
    headers: list[tuple[str, str | bytes | None]] = list(record.headers)
    if letter.trace_headers:
        traced = {name for name, _ in letter.trace_headers}
        headers = [(k, v) for k, v in headers if k not in traced] + list(letter.trace_headers)
    return [*headers, *((k, v.encode()) for k, v in context.items())]


class KafkaDeadLetterSink:
    """Produces dead letters with an idempotent producer and waits for every ack."""

    def __init__(self, bootstrap: str, topic: str, flush_timeout_s: float = 30.0) -> None:
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "logger": kafka_client_logger(),
                # Unserved info lines (BGQUEUE at close) bypass the logger: warnings up.
                "log_level": 4,
            }
        )

    def send(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(error)

        failed_at = datetime.now(UTC)
        for letter in letters:
            self._producer.produce(
                self.topic,
                key=letter.record.key,
                value=letter.record.value,
                headers=dead_letter_headers(letter, failed_at),
                on_delivery=on_delivery,
            )
        # Offsets are committed only after this returns: every letter must be acked.
        remaining = self._producer.flush(self.flush_timeout_s)
        if remaining or failures:
            raise RetryableError(
                f"dead-letter topic {self.topic}: {remaining} unacknowledged, "
                f"{len(failures)} failed ({failures[0] if failures else 'timeout'})"
            )
