"""The Spark backfill applies a truncate as the worker does: an LSN fence per table."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pyspark.sql import DataFrame, SparkSession

from fraudgraph.cdc.changes import RowChange
from fraudgraph.spark.sources import decode_kafka, fenced, truncate_fences
from tests.spark_support import spark_fixture  # noqa: F401 - the shared session

# py4j leaves its sockets to the collector (as in test_spark_engine.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, "
    "headers array<struct<key:string,value:binary>>"
)


def _envelope(table: str, op: str, lsn: int, after: dict[str, Any] | None) -> bytes:
    source = {"table": table, "lsn": lsn, "ts_ms": 1, "schema": "bank"}
    return orjson.dumps({"before": None, "after": after, "source": source, "op": op})


def _customer(customer_id: int, lsn: int, offset: int) -> tuple[Any, ...]:
    after = {"customer_id": customer_id, "country": "GB"}
    key = orjson.dumps({"customer_id": customer_id})
    value = _envelope("customers", "c", lsn, after)
    return (key, value, "bank.bank.customers", customer_id % 3, offset, [])


def _truncate(table: str, lsn: int, partition: int, offset: int) -> tuple[Any, ...]:
    # No key: a truncate names no row, so Kafka puts it in any one partition.
    return (None, _envelope(table, "t", lsn, None), f"bank.bank.{table}", partition, offset, [])


def _records(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def test_the_newest_truncate_of_each_table_is_its_fence(spark: SparkSession) -> None:
    records = _records(
        spark,
        [
            _customer(1, lsn=10, offset=0),
            _truncate("customers", lsn=15, partition=0, offset=1),
            _truncate("customers", lsn=20, partition=2, offset=7),
            _truncate("devices", lsn=5, partition=1, offset=0),
            _customer(2, lsn=30, offset=2),
        ],
    )
    assert truncate_fences(records) == {"customers": 20, "devices": 5}


def test_changes_at_or_below_the_fence_are_left_out(spark: SparkSession) -> None:
    records = _records(
        spark,
        [
            _customer(1, lsn=10, offset=0),  # before the truncate: removed by it
            _customer(4, lsn=20, offset=1),  # the truncate's own LSN: removed too
            _truncate("customers", lsn=20, partition=0, offset=2),
            _customer(2, lsn=30, offset=3),  # inserted after it: kept
        ],
    )
    changes = decode_kafka(records).filter(lambda item: item[0] == "change").map(lambda i: i[1])
    kept: list[RowChange] = fenced(changes, truncate_fences(records)).collect()
    assert [(c.table, c.lsn) for c in kept] == [("customers", 30)]


def test_without_a_truncate_every_change_stays(spark: SparkSession) -> None:
    records = _records(spark, [_customer(1, lsn=10, offset=0), _customer(2, lsn=11, offset=1)])
    changes = decode_kafka(records).filter(lambda item: item[0] == "change").map(lambda i: i[1])
    assert truncate_fences(records) == {}
    assert sorted(c.lsn for c in fenced(changes, {}).collect()) == [10, 11]
