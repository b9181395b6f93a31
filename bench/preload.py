"""Bench-only topics filled with a simulated bank's change events, and removing them after.

Topics are named like Debezium's (<prefix>.<schema>.<table>) under a prefix unique
to the run, so the real worker reads them by setting its topic prefix, and
nothing another engineer runs on this Kafka is touched.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic is untyped
    AdminClient,
    NewTopic,
)

from fraudgraph.bench.envelopes import HEADERS, change_events, ordered_rows, transaction_ids
from fraudgraph.cdc.changes import Position
from fraudgraph.cdc.decode import decode_record
from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.ids import IdAllocator
from fraudgraph.simulator.options import MIN_CUSTOMERS, make_options
from fraudgraph.simulator.rows import TABLE_ORDER

PARTITIONS = 3
DAYS = 30
EVENTS_PER_CUSTOMER = 85  # a little under what 30 simulated days give, so one pass suffices
# Every id starts here, far above what the simulator gives a real bank (ids from 1),
# so the bench's rows can be told apart in a graph someone else is also writing to.
BENCH_ID_BASE = 7 * 10**15
CHECK_EVERY = 100  # decode every 100th envelope back: a wrong encoder fails the run early

Progress = Callable[[int, int], None]


class PreloadError(FraudgraphError):
    """Bench topics could not be created, filled or removed."""


@dataclass(frozen=True)
class Preloaded:
    topics: list[str]
    events: int
    per_table: dict[str, int]
    expected_transactions: int  # Transaction nodes the worker must leave in the graph
    seconds: float


def simulate(events: int, on_progress: Progress, seed: int = 1) -> SimulatedBank:
    """A simulated bank with at least `events` rows (grown if a seed falls short)."""
    customers = max(MIN_CUSTOMERS, math.ceil(events / EVENTS_PER_CUSTOMER))

    def lives(stage: str, done: int, total: int) -> None:
        if stage == "everyday life":
            on_progress(done, total)

    while True:
        ids = IdAllocator({table: BENCH_ID_BASE + 1 for table in TABLE_ORDER})
        bank = generate(make_options(seed=seed, customers=customers, days=DAYS), lives, ids)
        if bank.total_rows() >= events:
            return bank
        customers = math.ceil(customers * 1.3)


def create_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            raise PreloadError(f"cannot create bench topic {name}: {error}") from error


def delete_run_topics(bootstrap: str, run_prefix: str) -> list[str]:
    """Delete every topic whose name starts with this run's unique prefix (and only those)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(run_prefix)]
    if not names:
        return []
    for name, future in admin.delete_topics(names, operation_timeout=30).items():
        try:
            future.result(timeout=60)
        except KafkaException as error:
            raise PreloadError(f"cannot delete bench topic {name}: {error}") from error
    return names


def preload(
    bootstrap: str,
    mapping: GraphMapping,
    *,
    topic_prefix: str,
    schema: str,
    events: int,
    on_simulate: Progress,
    on_progress: Progress,
) -> Preloaded:
    """Create the run's topics and produce `events` change events onto them."""
    began = time.perf_counter()
    rows = ordered_rows(simulate(events, on_simulate), events)
    topics = {table: f"{topic_prefix}.{schema}.{table}" for table in mapping.tables}
    create_topics(bootstrap, list(topics.values()))
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            # Java's partitioner, as Debezium (Kafka Connect) uses: same key, same partition.
            "partitioner": "murmur2_random",
            "linger.ms": 50,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
        }
    )
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    per_table: Counter[str] = Counter()
    for index, event in enumerate(change_events(rows, mapping, topic_prefix, schema)):
        if index % CHECK_EVERY == 0:
            # Raises DecodeError if the bench's envelopes drift from what the worker reads.
            decode_record(event.value, Position(topics[event.table], 0, index), mapping)
        while True:
            try:
                producer.produce(
                    topics[event.table],
                    event.value,
                    event.key,
                    headers=HEADERS,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)  # the local queue is full: let deliveries drain it
        per_table[event.table] += 1
        if index % 5_000 == 0:
            producer.poll(0)
            on_progress(index, len(rows))
    if producer.flush(120) > 0 or failures:
        raise PreloadError(f"bench events not delivered: {failures[:3] or 'flush timed out'}")
    on_progress(len(rows), len(rows))
    return Preloaded(
        topics=list(topics.values()),
        events=len(rows),
        per_table=dict(per_table),
        expected_transactions=len(transaction_ids(rows)),
        seconds=time.perf_counter() - began,
    )
