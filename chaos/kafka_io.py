"""Reading topics and consumer-group positions, with deadlines (never a bare sleep)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

Offsets = dict[tuple[str, int], int]


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None


def _consumer(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"chaos-probe-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )


def end_offsets(bootstrap: str, topics: Iterable[str]) -> Offsets:
    """The high watermark of every partition of `topics` (missing topics: none)."""
    consumer = _consumer(bootstrap)
    try:
        ends: Offsets = {}
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None:
                continue
            for partition in metadata.partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, partitions: Iterable[tuple[str, int]]) -> Offsets:
    consumer = _consumer(bootstrap, group)
    try:
        asked = [TopicPartition(topic, partition) for topic, partition in partitions]
        answer = consumer.committed(asked, timeout=10)
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in answer}
    finally:
        consumer.close()


def caught_up(bootstrap: str, group: str, targets: Offsets) -> bool:
    """Has `group` committed every partition up to `targets`?"""
    done = committed_offsets(bootstrap, group, targets)
    return all(done.get(key, 0) >= end for key, end in targets.items() if end > 0)


def lag(bootstrap: str, group: str, topics: Iterable[str]) -> int:
    ends = end_offsets(bootstrap, topics)
    done = committed_offsets(bootstrap, group, ends)
    return sum(max(0, end - done.get(key, 0)) for key, end in ends.items())


def start_group_at(bootstrap: str, group: str, offsets: Offsets) -> None:
    """Commit `offsets` for a new group, so its first member reads from there on."""
    consumer = _consumer(bootstrap, group)
    try:
        if offsets:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
    finally:
        consumer.close()


def read_topic(
    bootstrap: str, topic: str, start: Offsets | None = None, timeout: float = 120.0
) -> list[Message]:
    """Every record of `topic` from `start` (default: the beginning) to its current end."""
    ends = {key: end for key, end in end_offsets(bootstrap, [topic]).items()}
    begin = {key: (start or {}).get(key, 0) for key in ends}
    remaining = {key for key, end in ends.items() if end > begin[key]}
    messages: list[Message] = []
    if not remaining:
        return messages
    consumer = _consumer(bootstrap)
    consumer.assign([TopicPartition(t, p, begin[(t, p)]) for (t, p) in remaining])
    deadline = time.monotonic() + timeout
    try:
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: could not read to its end in {timeout:.0f}s")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            key = (str(message.topic()), int(message.partition() or 0))
            offset = int(message.offset() or 0)
            if offset >= ends[key]:
                remaining.discard(key)
                continue
            raw_headers = cast(list[tuple[str, bytes | None]], message.headers() or [])
            headers = tuple(
                (name, value) for name, value in raw_headers if isinstance(value, bytes)
            )
            messages.append(
                Message(
                    topic=key[0],
                    partition=key[1],
                    offset=offset,
                    key=message.key(),
                    value=message.value(),
                    headers=headers,
                    timestamp_ms=int(message.timestamp()[1]),
                )
            )
            if offset + 1 >= ends[key]:
                remaining.discard(key)
    finally:
        consumer.close()
    return messages


def produce(bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for topic, key, value in records:
        producer.produce(topic, key=key, value=value)
    if producer.flush(30) != 0:
        raise TimeoutError("records not acknowledged by Kafka within 30 s")


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic named `prefix…` and every consumer group named `prefix…`."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in admin.delete_topics(topics).values() if topics else []:
        future.result(timeout=30)
    groups = admin.list_consumer_groups(request_timeout=10).result().valid
    ours = [g.group_id for g in groups if g.group_id.startswith(prefix)]
    for future in admin.delete_consumer_groups(ours, request_timeout=10).values() if ours else []:
        future.result(timeout=30)
