"""Consumer lag per partition: a group's committed offsets against the high watermarks.

Faust does not export lag, and the stall alert needs it from outside the
consume loop (a stuck loop would stop updating anything it computes itself), so
the worker runs `LagProbe.measure` on a timer of its own and publishes the result
with `publish_lag`. The arithmetic is a plain function; the probe is a thin
adapter over confluent-kafka's AdminClient, which reads offsets without joining
the group (no rebalance is triggered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

# confluent-kafka re-exports OffsetSpec without listing it, and leaves its factories untyped.
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from observability.logs import kafka_client_logger
from observability.metrics import CONSUMER_LAG

PartitionKey = tuple[str, int]


class LagUnavailableError(Exception):
    """Kafka did not answer the offset queries (in time); the gauge keeps its last value."""


def compute_lag(
    high: Mapping[PartitionKey, int],
    committed: Mapping[PartitionKey, int],
    low: Mapping[PartitionKey, int],
) -> dict[PartitionKey, int]:
    """Messages left per partition of `high`.

    A partition the group never committed (negative or missing offset) starts at
    its low watermark, as the worker does (auto.offset.reset=earliest): all of its
    retained messages are lag. Never negative: the watermark and the commit are
    read a moment apart, and a commit can overtake the watermark read before it.
    """
    lags = {}
    for key, end in high.items():
        position = committed.get(key, -1)
        if position < 0:
            position = low.get(key, 0)
        lags[key] = max(0, end - position)
    return lags


def publish_lag(lags: Mapping[PartitionKey, int]) -> None:
    """Set fraudgraph_consumer_lag{topic,partition} for each measured partition."""
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(topic=topic, partition=str(partition)).set(lag)


class LagProbe:
    """Measures one group's lag on some topics. No I/O until `measure`."""

    def __init__(
        self, bootstrap: str, group: str, topics: Iterable[str], timeout_s: float = 5.0
    ) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = sorted(set(topics))
        self.timeout_s = timeout_s
        self._admin: AdminClient | None = None

    def _client(self) -> AdminClient:
        if self._admin is None:
            # Through `logging` (served by poll): a broker that is down makes librdkafka
            # report connection failures, raw on stderr otherwise, which broke the
            # exporter's one-JSON-object-per-line log while the broker restarted.
            self._admin = AdminClient(
                {
                    "bootstrap.servers": self.bootstrap,
                    "socket.timeout.ms": 5000,
                    "log_level": 3,
                    "logger": kafka_client_logger(),  # type: ignore[dict-item]  # accepted at run time (confluent-kafka 2.16)
                }
            )
        return self._admin

    def measure(self) -> dict[PartitionKey, int]:
        """Lag of every partition of the topics that exist (missing topics are left out)."""
        admin = self._client()
        admin.poll(0)  # serve the client's queued log lines
        try:
            partitions = self._partitions(admin)
            if not partitions:
                return {}
            high = self._watermarks(admin, partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
            low = self._watermarks(admin, partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
            committed = self._committed(admin, partitions)
        except KafkaException as error:
            raise LagUnavailableError(f"consumer lag of {self.group}: {error}") from error
        return compute_lag(high, committed, low)

    def partition_counts(self) -> dict[str, int]:
        """How many partitions each of the topics has (the topics that exist)."""
        admin = self._client()
        admin.poll(0)
        try:
            metadata = admin.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            raise LagUnavailableError(f"topic metadata for {self.group}: {error}") from error
        return {
            topic: len(metadata.topics[topic].partitions)
            for topic in self.topics
            if topic in metadata.topics and metadata.topics[topic].partitions
        }

    def _partitions(self, admin: AdminClient) -> list[TopicPartition]:
        metadata = admin.list_topics(timeout=self.timeout_s)
        return [
            TopicPartition(topic, partition)
            for topic in self.topics
            if topic in metadata.topics
            for partition in sorted(metadata.topics[topic].partitions)
        ]

    def _watermarks(
        self, admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec
    ) -> dict[PartitionKey, int]:
        futures = admin.list_offsets(
            {part: spec for part in partitions}, request_timeout=self.timeout_s
        )
        return {
            (part.topic, part.partition): int(future.result().offset)
            for part, future in futures.items()
        }

    def _committed(
        self, admin: AdminClient, partitions: list[TopicPartition]
    ) -> dict[PartitionKey, int]:
        request = ConsumerGroupTopicPartitions(self.group, partitions)
        futures = admin.list_consumer_group_offsets([request], request_timeout=self.timeout_s)
        answer = futures[self.group].result()
        return {(part.topic, part.partition): int(part.offset) for part in answer.topic_partitions}
