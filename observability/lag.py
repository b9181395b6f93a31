"""Consumer lag per partition: a group's committed offsets against the high watermarks.

Faust does not export lag, and the stall alert needs it from outside the
consume loop (a stuck loop would stop updating anything it computes itself), so
the worker runs `LagProbe.measure` on a timer of its own and publishes the result
with `publish_lag`. The arithmetic is a plain function; the probe is a thin
adapter over a confluent-kafka Consumer that reads offsets without joining the
group (no rebalance is triggered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from fraudgraph.observability.logs import kafka_client_logger
from fraudgraph.observability.metrics import CONSUMER_LAG

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
    """Measures one group's lag on some topics. No I/O until `measure`.

    A plain Consumer that never subscribes: `committed` reads the group's offsets
    through its coordinator without joining it (no rebalance), and watermarks are
    per-partition offset queries. Not the AdminClient: its offset and group requests
    crash the process (SIGSEGV, or librdkafka's `eonce->refcnt > 0` assertion) when a
    broker restarts while they are pending (confluentinc/librdkafka#4605, #3663; it
    took the exporter down in a broker-restart chaos run). After a failed
    measurement the client is rebuilt, so no request of the outage lingers.
    """

    def __init__(
        self, bootstrap: str, group: str, topics: Iterable[str], timeout_s: float = 5.0
    ) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = sorted(set(topics))
        self.timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def _client(self) -> Consumer:
        if self._consumer is None:
            # Through `logging` (served by poll): a broker that is down makes librdkafka
            # report connection failures, raw on stderr otherwise, which broke the
            # exporter's one-JSON-object-per-line log while the broker restarted.
            self._consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "socket.timeout.ms": 5000,
                    "log_level": 3,
                    "logger": kafka_client_logger(),
                }
            )
        return self._consumer

    def _drop_client(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()

    def measure(self) -> dict[PartitionKey, int]:
        """Lag of every partition of the topics that exist (missing topics are left out)."""
        consumer = self._client()
        consumer.poll(0)  # serves the client's queued log lines; never subscribed: no records
        try:
            partitions = self._partitions(consumer)
            if not partitions:
                return {}
            low: dict[PartitionKey, int] = {}
            high: dict[PartitionKey, int] = {}
            for part in partitions:
                key = (part.topic, part.partition)
                low[key], high[key] = consumer.get_watermark_offsets(
                    part, timeout=self.timeout_s, cached=False
                )
            answer = consumer.committed(partitions, timeout=self.timeout_s)
        except KafkaException as error:
            self._drop_client()
            raise LagUnavailableError(f"consumer lag of {self.group}: {error}") from error
        committed = {(part.topic, part.partition): int(part.offset) for part in answer}
        return compute_lag(high, committed, low)

    def partition_counts(self) -> dict[str, int]:
        """How many partitions each of the topics has (the topics that exist)."""
        consumer = self._client()
        consumer.poll(0)
        try:
            metadata = consumer.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            self._drop_client()
            raise LagUnavailableError(f"topic metadata for {self.group}: {error}") from error
        return {
            topic: len(metadata.topics[topic].partitions)
            for topic in self.topics
            if topic in metadata.topics and metadata.topics[topic].partitions
        }

    def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        metadata = consumer.list_topics(timeout=self.timeout_s)
        return [
            TopicPartition(topic, partition)
            for topic in self.topics
            if topic in metadata.topics
            for partition in sorted(metadata.topics[topic].partitions)
        ]
