"""The baseline: a straightforward consumer that writes each event in its own transaction.

Why not Quix Streams' Neo4j sink (quixstreams.sinks.community.neo4j.Neo4jSink):
- it runs one Cypher text over the raw message values, and this model needs
  keyed HMACs of PII columns (email, phone, national id, address, IBAN, card
  token) that Cypher cannot compute, plus decoding Debezium's value types;
- quixstreams 3.28 pins confluent-kafka<2.13, pydantic<2.14 and
  pydantic-settings<2.16, below what this project runs on, so it cannot be
  installed beside the worker without downgrading the worker's own dependencies.

So the baseline is what the issue names as the fallback: the same decoding
(cdc.decode) and the same Cypher (GraphWriter with batches of one), one
transaction per event, its offset committed after the write. Only batching differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, Message, TopicPartition

from fraudgraph.cdc.changes import Position, TableTruncate
from fraudgraph.cdc.decode import decode_record
from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.graph.writer import GraphWriter

Progress = Callable[[int, int], None]


class BaselineError(FraudgraphError):
    """The baseline consumer could not finish its share of the events."""


@dataclass(frozen=True)
class BaselineRun:
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def measure_per_event(
    bootstrap: str,
    group: str,
    *,
    ends: Mapping[tuple[str, int], int],
    mapping: GraphMapping,
    writer: GraphWriter,
    on_progress: Progress,
    timeout: float,
) -> BaselineRun:
    """Consume offsets [0, end) of every partition in `ends`, one write per event.

    Timed from the first event received to the last one written, so consumer
    start-up (joining, first fetch) is not charged to the baseline.
    """
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    total = sum(wanted.values())
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0) for topic, partition in wanted])
    done = 0
    started: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while wanted:
            if time.monotonic() > deadline:
                raise BaselineError(f"baseline wrote {done} of {total} events in {timeout:.0f}s")
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                raise BaselineError(f"baseline consumer: {message.error()}")
            place, offset = _place(message)
            end = wanted.get(place)
            if end is None or offset >= end:
                continue  # past this partition's share; already paused
            started = started or time.perf_counter()
            change = decode_record(message.value(), Position(*place, offset), mapping)
            if isinstance(change, TableTruncate):
                writer.truncate(change)
            elif change is not None:
                writer.apply([change])
            # After the write, as the at-least-once contract requires; asynchronous,
            # which favours the baseline (no broker round trip per event).
            consumer.commit(message=message, asynchronous=True)
            done += 1
            if done % 100 == 0:
                on_progress(done, total)
            if offset + 1 >= end:
                del wanted[place]
                consumer.pause([TopicPartition(*place)])
        seconds = time.perf_counter() - (started or time.perf_counter())
    finally:
        consumer.close()
    on_progress(done, total)
    return BaselineRun(done, seconds)


def _place(message: Message) -> tuple[tuple[str, int], int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    # Always set on a consumed message; None only on produced-but-unsent ones.
    assert topic is not None and partition is not None and offset is not None
    return (topic, partition), offset
