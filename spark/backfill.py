"""Bulk-load the CDC history into Neo4j from the executors, then hand over to the stream.

The graph is written by the stream's own planner and Cypher (`graph/writer.py`), so
labels, properties, hashes and relationships are the worker's by construction; only
the order differs: the newest change of each row, written by partitions in parallel,
instead of every change in arrival order. See spark/README.md for why the result is
the same graph and how the handover avoids gaps and double counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaException, TopicPartition
from pyspark import RDD
from pyspark.sql import SparkSession

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.errors import ConfigError, RetryableError
from fraudgraph.graph.admin import graph_is_empty
from fraudgraph.graph.connection import graph_writer, open_driver
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import RowLoad, WritePlanner, merge_loads
from fraudgraph.graph.writer import GraphWriter
from fraudgraph.settings import Settings
from fraudgraph.spark.neo4j_target import GraphTarget
from fraudgraph.spark.sources import (
    KafkaRange,
    decode_with_dead_letters,
    fenced,
    kafka_range,
    kafka_records,
    newer_change,
    truncate_fences,
)
from fraudgraph.stream.topics import cdc_topics, ensure_topics

WRITE_BATCH = 5000  # rows per transaction, as the worker's batches


@dataclass
class BackfillResult:
    records: int
    changes: int
    rows_written: int
    dead_letters: int
    seconds: float
    handed_over: dict[str, int] = field(default_factory=dict)
    # Where the time went: read + decode + newest per row, row writes.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # "load": into an empty graph, unguarded; "guarded": the stream's statements.
    mode: Literal["load", "guarded"] = "guarded"
    # Per truncated table, the LSN of its newest truncate: the fence applied.
    truncates: dict[str, int] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


def writes_of(versions: Iterable[RowChange]) -> list[RowChange]:
    """A row's changes to write, its newest (as `sources.latest_per_row` picks it) last.

    The newest alone, except where the row's node keeps a `history` property (a
    customer's change times): there the older upserts are written too, oldest first,
    so their values reach the history as the stream leaves it. Superseded versions
    leave nothing else behind in the stream: a stub a row lets go of is removed once
    nothing links it (graph/cypher.py), so no older version's references are written.
    """
    ordered = list(versions)
    newest = ordered[0]
    for change in ordered[1:]:
        newest = newer_change(newest, change)
    node = default_mapping().tables[newest.table].node
    if node is None or not node.history:
        return [newest]
    older = [c for c in ordered if c is not newest and c.row is not None]
    return [*sorted(older, key=lambda c: (c.lsn, c.position.offset)), newest]


def _load_versions(pii_key: str) -> Any:
    def plan(changes: Iterable[RowChange]) -> Iterator[tuple[tuple[str, Any], RowLoad]]:
        planner = WritePlanner(default_mapping(), PiiHasher(pii_key))
        for change in changes:
            yield (change.table, next(iter(change.key.values()))), planner.load_version(change)

    return plan


def _load_rows(pii_key: str) -> Any:
    def plan(loads: Iterable[tuple[Any, RowLoad]]) -> Iterator[tuple[str, dict[str, Any]]]:
        planner = WritePlanner(default_mapping(), PiiHasher(pii_key))
        for _, load in loads:
            yield from planner.load_rows(load)

    return plan


def _write_loads(target: GraphTarget) -> Any:
    def write(planned: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[tuple[int, float]]:
        """(rows written, seconds in the graph writer: Neo4j) of one task.

        Rows wait per statement until it has a batch (one statement over many rows per
        transaction), so memory stays a batch per statement however large the task.
        """
        held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        written = 0
        waited = 0.0
        with target.driver() as driver:
            writer = GraphWriter(driver, default_mapping(), PiiHasher(target.pii_key))

            def flush(batch: list[tuple[str, dict[str, Any]]]) -> None:
                nonlocal written, waited
                began = time.perf_counter()
                written += writer.load(batch)
                waited += time.perf_counter() - began

            for item in planned:
                batch = held.setdefault(item[0], [])
                batch.append(item)
                if len(batch) >= WRITE_BATCH:
                    flush(held.pop(item[0]))
            for batch in held.values():
                flush(batch)
        yield written, waited

    return write


def _write_rows(target: GraphTarget) -> Any:
    def write(changes: Iterable[RowChange]) -> Iterator[tuple[int, float]]:
        """(rows written, seconds in the graph writer: planning and Neo4j) of one task."""
        # A row's versions (history tables) in LSN order: the guard keeps the newest.
        ordered = iter(sorted(changes, key=lambda c: (c.table, c.lsn, c.position.offset)))
        written = 0
        waited = 0.0
        with target.driver() as driver:
            writer = GraphWriter(driver, default_mapping(), PiiHasher(target.pii_key))
            while chunk := list(islice(ordered, WRITE_BATCH)):
                began = time.perf_counter()
                written += writer.apply(chunk).rows_written
                waited += time.perf_counter() - began
        yield written, waited

    return write


def write_graph(
    latest: RDD[Any],
    target: GraphTarget,
    writers: int,
    *,
    load: bool = False,
    stages: dict[str, float] | None = None,
) -> int:
    """Every row from `writers` tasks: `latest` holds the changes `writes_of` picks, or
    with `load` the rows `WritePlanner.load` planned. It must be partitioned by row (all
    of a row's changes in one partition), so no two tasks write one row. Returns the
    rows written.

    Rows create relationships on shared nodes (merchants, devices, IPs): concurrent
    transactions lock those in different orders and Neo4j aborts one as a deadlock
    (retried, but the work is redone), hence one writer by default; decoding,
    deduplication and planning stay parallel.
    """
    stages = stages if stages is not None else {}
    began = time.perf_counter()
    # `latest` is already partitioned by row (the plan's groupByKey or reduceByKey): merging its
    # partitions into `writers` tasks keeps every row in one task without a second
    # shuffle (measured: 5 of this stage's 66 s; the graph writer took the other 61).
    write = _write_loads(target) if load else _write_rows(target)
    tasks = latest.coalesce(writers).mapPartitions(write).collect()
    stages["rows"] = time.perf_counter() - began
    # Of which in the graph writer (summed over tasks): the rest is Spark's shuffle and
    # the tasks' unpickling of the changes.
    stages["rows_writer"] = sum(waited for _, waited in tasks)
    return sum(written for written, _ in tasks)


def committed_offsets(
    settings: Settings, group: str, partitions: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
    except KafkaException as error:
        raise RetryableError(f"Kafka at {settings.kafka_bootstrap}: {error}") from error
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}


def hand_over(settings: Settings, covered: KafkaRange) -> dict[str, int]:
    """Commit the covered end offsets for the worker's group: it starts right after.

    Refuses when the group already has offsets (the stream has written part of the
    history: the backfill would not be the only writer of what it covers).
    """
    group = settings.worker_group
    if held := committed_offsets(settings, group, covered.end):
        shown = ", ".join(f"{t}[{p}]={o}" for (t, p), o in sorted(held.items())[:3])
        raise ConfigError(
            f"consumer group {group} already has committed offsets ({shown}, …); "
            "a backfill hands over to a group that has not started"
        )
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(covered.end.items())],
            asynchronous=False,
        )
    except KafkaException as error:
        raise RetryableError(f"cannot commit the handover offsets for {group}: {error}") from error
    finally:
        consumer.close()
    return {f"{t}[{p}]": o for (t, p), o in sorted(covered.end.items())}


def run_backfill(
    spark: SparkSession,
    settings: Settings,
    *,
    partitions: int,
    writers: int = 1,
    handover: bool = True,
) -> BackfillResult:
    """Everything the CDC topics hold now, into Neo4j; then the worker's offsets."""
    began = time.perf_counter()
    mapping = default_mapping()
    topics = cdc_topics(settings, mapping)
    covered = kafka_range(settings, topics)
    if handover and (held := committed_offsets(settings, settings.worker_group, covered.end)):
        raise ConfigError(
            f"consumer group {settings.worker_group} already has committed offsets on "
            f"{len(held)} partitions; a backfill hands over to a group that has not started"
        )
    with open_driver(settings) as driver:
        graph_writer(settings, driver, mapping).setup()
        # Into an empty graph, each row is loaded once by the unguarded load statements;
        # otherwise (a rerun after a failed backfill) the stream's guarded ones, which
        # make a rerun a no-op for what the graph already holds.
        mode: Literal["load", "guarded"] = "load" if graph_is_empty(driver) else "guarded"
    # As the worker does at start: the backfill usually runs before it, and the brokers
    # do not auto-create topics (a refused record would fail the job after the read).
    ensure_topics(settings.kafka_bootstrap, [settings.deadletter_topic])
    target = GraphTarget.from_settings(settings)
    stages: dict[str, float] = {}
    counts = (spark.sparkContext.accumulator(0), spark.sparkContext.accumulator(0))
    records = kafka_records(spark, settings, covered)
    # Truncates, as the worker applies them: their fences in the graph first (the
    # stream, handed over, keeps them), and every change at or below one left out,
    # so the rows it removed are never loaded and their values reach no history.
    fences = truncate_fences(records)
    if fences:
        with open_driver(settings) as driver:
            writer = graph_writer(settings, driver, mapping)
            for table, lsn in sorted(fences.items()):
                writer.truncate(TableTruncate(table, lsn, 0, Position("spark:fence", 0, 0)))
    changes = fenced(decode_with_dead_letters(records, settings, partitions, counts), fences)
    # One shuffle brings each row's changes together.
    if mode == "load":
        # Planned per change on the map side, combined per row (`merge_loads`): what
        # crosses the shuffle is one planned part per row and task, not every change.
        planned = (
            changes.mapPartitions(_load_versions(target.pii_key))
            .reduceByKey(merge_loads, partitions)
            .mapPartitions(_load_rows(target.pii_key))
        )
    else:
        planned = (
            changes.keyBy(lambda c: (c.table, next(iter(c.key.values()))))
            .groupByKey(partitions)
            .flatMap(lambda item: writes_of(item[1]))
        )
    planned.cache().count()
    stages["read_decode_plan"] = time.perf_counter() - began
    rows = write_graph(planned, target, writers, load=mode == "load", stages=stages)
    planned.unpersist()
    handed = hand_over(settings, covered) if handover else {}
    return BackfillResult(
        records=covered.records,
        changes=counts[0].value,
        rows_written=rows,
        dead_letters=counts[1].value,
        seconds=time.perf_counter() - began,
        handed_over=handed,
        stage_seconds=stages,
        mode=mode,
        truncates=fences,
    )
