"""The bank's current rows, from the CDC topics or from PostgreSQL, as one RDD."""

from __future__ import annotations

from enum import StrEnum

from pyspark import RDD
from pyspark.sql import SparkSession

from fraudgraph.cdc.changes import RowChange
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.spark.sources import (
    changes_of,
    decode_kafka,
    fenced,
    jdbc_changes,
    kafka_range,
    kafka_records,
    latest_per_row,
    snapshot_lsn,
    truncate_fences,
)
from fraudgraph.stream.topics import cdc_topics


class Source(StrEnum):
    kafka = "kafka"
    postgres = "postgres"


def current_rows(spark: SparkSession, settings: Settings, source: Source) -> RDD[RowChange]:
    """The newest change of every row (deletes included: they hide the row; a table's
    truncate hides every row changed at or before it).

    From Kafka, records the decoder refuses are skipped here: the worker has sent
    them to the dead-letter topic already (the backfill sends them itself).
    """
    if source is Source.postgres:
        return jdbc_changes(spark, settings, snapshot_lsn(settings))
    covered = kafka_range(settings, cdc_topics(settings, default_mapping()))
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or "8")
    records = kafka_records(spark, settings, covered)
    # A truncated table's rows at or below its truncate are gone, as in the graph.
    fences = truncate_fences(records)
    return latest_per_row(fenced(changes_of(decode_kafka(records, partitions)), fences))
