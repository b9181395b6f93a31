"""Where Spark reads the bank's history: the CDC topics in Kafka, or PostgreSQL directly.

Both become RowChanges decoded by the stream processor's own code (`cdc/decode.py`
with `graph/mapping.yaml`), on the executors, so a value means the same thing on
both paths. A record the decoder refuses goes to the dead-letter topic with its
reason and coordinates, as the worker does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pyspark import RDD, Accumulator
from pyspark.sql import DataFrame, SparkSession

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.cdc.decode import decode_record
from fraudgraph.cdc.errors import DecodeError
from fraudgraph.cdc.values import DECODERS, ValueDrift
from fraudgraph.errors import ConfigError, RetryableError
from fraudgraph.graph.mapping import GraphMapping, default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stream.deadletter import DeadLetter, KafkaDeadLetterSink
from fraudgraph.stream.records import RawRecord

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True)
class KafkaRange:
    """The records a job covers: [start, end) of every partition of the CDC topics."""

    start: dict[TopicPartitionKey, int]
    end: dict[TopicPartitionKey, int]

    @property
    def records(self) -> int:
        return sum(self.end[tp] - self.start[tp] for tp in self.end)

    def as_spark_json(self, offsets: Mapping[TopicPartitionKey, int]) -> str:
        by_topic: dict[str, dict[str, int]] = {}
        for (topic, partition), offset in sorted(offsets.items()):
            by_topic.setdefault(topic, {})[str(partition)] = offset
        return orjson.dumps(by_topic).decode()


def kafka_range(settings: Settings, topics: Iterable[str]) -> KafkaRange:
    """Every partition from its low watermark to its end now: the history to cover.

    Taken once, up front: the job reads exactly this range, and the stream worker's
    group is handed the end offsets afterwards (spark/README.md, "Handover").
    """
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "fraudgraph-spark-offsets"}
    )
    start: dict[TopicPartitionKey, int] = {}
    end: dict[TopicPartitionKey, int] = {}
    try:
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise ConfigError(f"topic {topic} does not exist on {settings.kafka_bootstrap}")
            for partition in metadata.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                start[(topic, partition)], end[(topic, partition)] = low, high
    except KafkaException as error:
        raise RetryableError(f"Kafka at {settings.kafka_bootstrap}: {error}") from error
    finally:
        consumer.close()
    return KafkaRange(start, end)


def kafka_records(spark: SparkSession, settings: Settings, covered: KafkaRange) -> DataFrame:
    """The covered records (a bounded batch read of the Structured Streaming source)."""
    topics = sorted({topic for topic, _ in covered.end})
    return (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", covered.as_spark_json(covered.start))
        .option("endingOffsets", covered.as_spark_json(covered.end))
        .option("includeHeaders", "true")
        .load()
    )


# A decoded record: ("change", RowChange), ("truncate", TableTruncate) or
# ("dead", RawRecord, reason, detail).
Decoded = tuple[Any, ...]


def _decode_partition(rows: Iterable[Any]) -> Iterator[Decoded]:
    mapping = default_mapping()
    for row in rows:
        position = Position(row.topic, row.partition, row.offset)
        value = bytes(row.value) if row.value is not None else None
        try:
            change = decode_record(value, position, mapping)
        except DecodeError as error:
            headers = tuple((h.key, bytes(h.value or b"")) for h in row.headers or ())
            raw = RawRecord(
                row.topic,
                row.partition,
                row.offset,
                bytes(row.key) if row.key is not None else None,
                value,
                headers,
            )
            yield ("dead", raw, error.reason.value, error.detail)
            continue
        if isinstance(change, TableTruncate):
            yield ("truncate", change)
        elif change is not None:
            yield ("change", change)


def truncate_fences(records: DataFrame) -> dict[str, int]:
    """Per table, the LSN of its newest truncate among `records` (none: not in the map).

    A truncate is the one CDC record without a key (a row change, and a delete's
    tombstone, carry the row's key), so only those are decoded here: this reads the
    covered records once more but decodes a handful. Malformed keyless records are
    left to the main pass, which dead-letters them.
    """
    keyless = records.filter(records.key.isNull())
    fences: dict[str, int] = {}
    for item in decode_kafka(keyless).filter(lambda item: item[0] == "truncate").collect():
        truncate: TableTruncate = item[1]
        fences[truncate.table] = max(truncate.lsn, fences.get(truncate.table, -1))
    return fences


def fenced(changes: RDD[RowChange], fences: Mapping[str, int]) -> RDD[RowChange]:
    """The changes no truncate removed: above their table's fence. As the worker's
    worker's writer drops them (graph/plan.py `fenced_off`), so does Spark."""
    if not fences:
        return changes
    cut = dict(fences)
    return changes.filter(lambda c: c.lsn > cut.get(c.table, -1))


def decode_kafka(records: DataFrame, partitions: int | None = None) -> RDD[Decoded]:
    """Decoded on the executors; `partitions` merges the source's one-per-topic-partition
    splits (dozens of tiny tasks on a small history) without a shuffle."""
    rows = records.rdd
    if partitions is not None and rows.getNumPartitions() > partitions:
        rows = rows.coalesce(partitions)
    return rows.mapPartitions(_decode_partition)


def decode_with_dead_letters(
    records: DataFrame,
    settings: Settings,
    partitions: int | None,
    counts: tuple[Accumulator[int], Accumulator[int]],
) -> RDD[RowChange]:
    """The covered changes in one pass: each task sends its dead letters to the
    dead-letter topic and adds to `counts` (changes, dead letters). A retried task
    sends its letters again (at least once, as the worker)."""
    bootstrap, topic = settings.kafka_bootstrap, settings.deadletter_topic
    changes, dead = counts

    def split(items: Iterable[Decoded]) -> Iterator[RowChange]:
        letters: list[DeadLetter] = []
        decoded = 0
        for item in items:
            if item[0] == "dead":
                letters.append(DeadLetter(item[1], item[2], item[3]))
            elif item[0] == "change":  # truncates are read by `truncate_fences`
                decoded += 1
                yield item[1]
        # The task's output counts only once it ends, so sending at its end loses none.
        if letters:
            KafkaDeadLetterSink(bootstrap, topic).send(letters)
            dead.add(len(letters))
        changes.add(decoded)

    # Pipelined with the decoding in one stage: the records are read once.
    return decode_kafka(records, partitions).mapPartitions(split)


def changes_of(decoded: RDD[Decoded]) -> RDD[RowChange]:
    return decoded.filter(lambda item: item[0] == "change").map(lambda item: item[1])


def newer_change(a: RowChange, b: RowChange) -> RowChange:
    """Of two changes to one row, the one the worker's LSN guard keeps: the higher LSN;
    on a tie, the later record (a row's changes share one topic partition)."""
    return a if (a.lsn, a.position.offset) >= (b.lsn, b.position.offset) else b


def latest_per_row(changes: RDD[RowChange]) -> RDD[RowChange]:
    """The newest change of every row."""
    keyed = changes.map(lambda c: ((c.table, next(iter(c.key.values()))), c))
    return keyed.reduceByKey(newer_change).values()


# -- PostgreSQL ----------------------------------------------------------------------
# Columns read as Debezium's JSON converter writes them, so one decoder serves both.
_AS_DEBEZIUM = {
    "timestamptz": "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    "date": "({c} - DATE '1970-01-01')",
    "decimal": "{c}::text",
    "inet": "{c}::text",
}


def snapshot_query(schema: str, table: str, columns: Mapping[str, str]) -> str:
    """A SELECT of the mapped columns (names come from the validated mapping)."""
    selected = ", ".join(
        _AS_DEBEZIUM.get(kind, "{c}").format(c=f'"{name}"') + f' AS "{name}"'
        for name, kind in columns.items()
    )
    # Identifiers only, from the validated mapping and settings; no values.
    return f'(SELECT {selected} FROM "{schema}"."{table}") AS snapshot'  # noqa: S608


def jdbc_url(settings: Settings) -> tuple[str, dict[str, str]]:
    """psycopg's DSN as a JDBC URL and properties (the password stays out of the URL)."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only for JDBC

    parts = conninfo_to_dict(settings.pg_dsn.get_secret_value())
    host, port, db = parts.get("host", "127.0.0.1"), parts.get("port", "5432"), parts.get("dbname")
    properties = {"user": str(parts.get("user", "")), "driver": "org.postgresql.Driver"}
    if parts.get("password"):
        properties["password"] = str(parts["password"])
    return f"jdbc:postgresql://{host}:{port}/{db}", properties


def snapshot_lsn(settings: Settings) -> int:
    """The WAL position now, as the integer Debezium reports in source.lsn."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(settings.pg_dsn.get_secret_value()) as connection:
        row = connection.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def jdbc_changes(
    spark: SparkSession, settings: Settings, lsn: int, mapping: GraphMapping | None = None
) -> RDD[RowChange]:
    """Every current row of every mapped table as a snapshot read (op r) at `lsn`."""
    mapping = mapping or default_mapping()
    url, properties = jdbc_url(settings)
    parts = []
    for name, table in mapping.tables.items():
        frame = spark.read.jdbc(
            url, snapshot_query(settings.source_schema, name, table.columns), properties=properties
        )
        parts.append(frame.rdd.mapPartitions(_snapshot_rows(name, lsn)))
    return spark.sparkContext.union(parts)


def _snapshot_rows(table_name: str, lsn: int) -> Any:
    def convert(rows: Iterable[Any]) -> Iterator[RowChange]:
        table = default_mapping().tables[table_name]
        for index, row in enumerate(rows):
            values = row.asDict()
            try:
                decoded = {
                    column: None if values[column] is None else DECODERS[kind](values[column])
                    for column, kind in table.columns.items()
                }
            except ValueDrift as drift:
                raise ConfigError(f"{table_name}: {drift}") from None
            yield RowChange(
                table=table_name,
                op="r",
                key={table.key: decoded[table.key]},
                row=decoded,
                lsn=lsn,
                committed_at_ms=0,
                position=Position(f"jdbc:{table_name}", 0, index),
            )

    return convert
