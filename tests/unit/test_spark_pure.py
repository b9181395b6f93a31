"""The Spark path's pure pieces: no JVM, no services."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.cdc.values import DECODERS
from fraudgraph.errors import ConfigError
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.spark.backfill import writes_of
from fraudgraph.spark.cli import app as spark_app
from fraudgraph.spark.options import SparkOptions
from fraudgraph.spark.sources import KafkaRange, jdbc_url, snapshot_query


def _change(table: str, row: dict[str, object] | None, op: str = "c") -> RowChange:
    key = {"login_id": 7} if table == "logins" else {"customer_id": 1}
    return RowChange(table, op, key, row, 10, 0, Position("t", 0, 0))  # type: ignore[arg-type]


def test_snapshot_query_selects_columns_in_debeziums_json_forms() -> None:
    columns = default_mapping().tables["transactions"].columns
    query = snapshot_query("bank", "transactions", columns)
    assert query.startswith('(SELECT "txn_id" AS "txn_id"')
    assert "to_char(\"created_at\" AT TIME ZONE 'UTC'" in query
    assert '"amount"::text AS "amount"' in query
    assert '"ip_address"::text AS "ip_address"' in query
    assert query.endswith('FROM "bank"."transactions") AS snapshot')


def test_the_snapshot_forms_decode_like_debeziums_values() -> None:
    # What to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') and inet::text give.
    moment = DECODERS["timestamptz"]("2026-11-22T08:00:00.123456Z")
    assert moment.utcoffset() is not None
    assert moment.microsecond == 123456
    assert DECODERS["inet"]("10.1.2.3/32") == "10.1.2.3"
    assert DECODERS["date"](1).isoformat() == "1970-01-02"


def test_jdbc_url_keeps_the_password_out_of_the_url() -> None:
    settings = Settings(pg_dsn="postgresql://app:s3cret@127.0.0.1:5433/bank")
    url, properties = jdbc_url(settings)
    assert url == "jdbc:postgresql://127.0.0.1:5433/bank"
    assert "s3cret" not in url
    assert properties["password"] == "s3cret"
    assert properties["user"] == "app"


def test_kafka_range_as_spark_offsets_json() -> None:
    covered = KafkaRange(start={("a", 0): 0, ("a", 1): 5}, end={("a", 0): 3, ("a", 1): 9})
    assert covered.records == 7
    assert orjson.loads(covered.as_spark_json(covered.end)) == {"a": {"0": 3, "1": 9}}


def test_spark_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDGRAPH_SPARK_MASTER", "spark://10.0.0.5:7077")
    monkeypatch.setenv("FRAUDGRAPH_SPARK_SHUFFLE_PARTITIONS", "64")
    options = SparkOptions()
    assert (options.master, options.shuffle_partitions) == ("spark://10.0.0.5:7077", 64)
    assert options.bind_address == "127.0.0.1"


def test_spark_options_refuse_a_bad_memory_size() -> None:
    with pytest.raises(ValueError, match="driver_memory"):
        SparkOptions(driver_memory="lots")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backfill", "--driver-memory", "lots"], "'lots' is not a size such as 512m or 4g"),
        (["analyze", "--source", "mysql"], "--source must be kafka or postgres"),
    ],
)
def test_invalid_spark_options_are_one_line_errors_before_spark_starts(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(spark_app, args)
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)


def _login(lsn: int, ip: str | None, op: str = "u") -> RowChange:
    row = None
    if op != "d":
        row = {"login_id": 7, "customer_id": 3, "device_id": 5, "ip_address": ip}
    return RowChange("logins", op, {"login_id": 7}, row, lsn, 0, Position("t", 0, lsn))  # type: ignore[arg-type]


def test_only_the_newest_version_of_a_row_is_written() -> None:
    (newest,) = writes_of([_login(2, "10.0.0.2"), _login(1, "10.0.0.1")])
    assert newest.lsn == 2


def test_a_customers_older_versions_are_written_first_for_its_change_history() -> None:
    """Customers keep every change time: the older versions go before the newest."""

    def version(lsn: int) -> RowChange:
        row = {"customer_id": 1, "updated_at": f"2026-10-01T10:{lsn:02d}:00Z"}
        return RowChange("customers", "u", {"customer_id": 1}, row, lsn, 0, Position("t", 0, lsn))

    assert [c.lsn for c in writes_of([version(12), version(30), version(5)])] == [5, 12, 30]
    (only,) = writes_of([_login(1, "10.0.0.1"), _login(2, "10.0.0.2")])
    assert only.lsn == 2  # no history on logins: the newest alone


def test_a_deleted_row_is_written_as_its_delete_alone() -> None:
    (newest,) = writes_of([_login(1, "10.0.0.1"), _login(2, None, op="d")])
    assert newest.op == "d"
