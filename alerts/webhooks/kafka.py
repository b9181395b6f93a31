"""Thin confluent-kafka adapters: the topics delivery needs, and durable produce.

Kafka errors are translated here into fraudgraph's RetryableError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic is untyped
    AdminClient,
    NewTopic,
    OffsetSpec,
)

from fraudgraph.alerts.webhooks.records import Output
from fraudgraph.errors import RetryableError
from fraudgraph.observability.logs import kafka_client_logger


def admin_client(bootstrap: str) -> AdminClient:
    # At exit librdkafka reports purging unserved admin events at info level, as a
    # plain (non-JSON) line on stderr; warnings and errors still get through.
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})


def list_topics(bootstrap: str) -> set[str]:
    admin = admin_client(bootstrap)
    try:
        return set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise RetryableError(f"Kafka at {bootstrap} did not answer: {error}") from error


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    """Create the topics that do not exist yet; safe to run from several workers at once."""
    admin = admin_client(bootstrap)
    existing = list_topics(bootstrap)
    missing = [
        NewTopic(name, partitions, 1) for name in dict.fromkeys(names) if name not in existing
    ]
    if not missing:
        return
    for name, future in admin.create_topics(missing).items():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RetryableError(f"cannot create topic {name}: {error}") from error


def partition_offsets(
    admin: AdminClient, partitions: Iterable[tuple[str, int]], *, latest: bool
) -> dict[tuple[str, int], int]:
    """Log-end (or log-start) offsets in one request through the admin client.

    The consumer's own get_watermark_offsets waits behind its long-poll fetch
    (about 0.5 s per partition), which would stall the delivery loop.
    """
    spec = OffsetSpec.latest() if latest else OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    request = {TopicPartition(topic, partition): spec for topic, partition in partitions}
    if not request:
        return {}
    futures = admin.list_offsets(request, request_timeout=5)
    return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}


class OutputSink(Protocol):
    def send(self, outputs: Sequence[Output]) -> None:
        """Durably store every output, or raise: offsets are committed only after this."""

    def close(self) -> None: ...


class KafkaSink:
    """An idempotent producer that returns only once every record is acknowledged."""

    def __init__(self, bootstrap: str, flush_timeout_s: float = 30.0) -> None:
        self.flush_timeout_s = flush_timeout_s
        # Idempotence: a retried produce after a lost ack is not written twice.
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

    def send(self, outputs: Sequence[Output]) -> None:
        if not outputs:
            return
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(error)

        for output in outputs:
            while True:
                try:
                    self._producer.produce(
                        output.topic,
                        key=output.key,
                        value=output.value,
                        headers=list(output.headers),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)  # local queue full: let acks drain it
        # The caller commits offsets only after this returns: every record must be acked.
        remaining = self._producer.flush(self.flush_timeout_s)
        if remaining or failures:
            first = failures[0] if failures else "timeout"
            raise RetryableError(
                f"webhook retry/dead-letter produce: {remaining} unacknowledged, "
                f"{len(failures)} failed ({first})"
            )

    def close(self) -> None:
        self._producer.flush(self.flush_timeout_s)
