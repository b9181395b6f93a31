"""The bank as it is now (newest change of each row, deletes applied) as DataFrames of
the records the detectors use, built by the detectors' own `RecordBuilder`: epoch-ms
times, float amounts and keyed hashes exactly as the graph holds them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyspark import RDD
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher

TXNS = StructType(
    [
        StructField("txn_id", LongType(), False),
        StructField("account_id", LongType(), True),
        StructField("channel", StringType(), True),
        StructField("amount", DoubleType(), True),
        StructField("currency", StringType(), True),
        StructField("status", StringType(), True),
        StructField("at", LongType(), True),
        StructField("counterparty_account_id", LongType(), True),
        StructField("merchant_id", LongType(), True),
        StructField("card_id", LongType(), True),
        StructField("device_id", LongType(), True),
    ]
)
IDENTITIES = StructType(
    [
        StructField("customer_id", LongType(), False),
        StructField("kind", StringType(), False),
        StructField("hash", StringType(), False),
    ]
)
LOGINS = StructType(
    [
        StructField("customer_id", LongType(), True),
        StructField("device_id", LongType(), True),
        StructField("success", BooleanType(), True),
    ]
)
ACCOUNTS = StructType(
    [StructField("account_id", LongType(), False), StructField("customer_id", LongType(), True)]
)
REPORTS = StructType(
    [
        StructField("kind", StringType(), True),
        StructField("customer_id", LongType(), True),
        StructField("account_id", LongType(), True),
    ]
)


@dataclass(frozen=True)
class BankFrames:
    txns: DataFrame
    identities: DataFrame
    logins: DataFrame
    accounts: DataFrame
    reports: DataFrame

    def cache(self) -> BankFrames:
        for frame in (self.txns, self.identities, self.logins, self.accounts, self.reports):
            frame.cache()
        return self


def _records(pii_key: str) -> Any:
    def convert(changes: Iterable[RowChange]) -> Iterator[tuple[str, tuple[Any, ...]]]:
        builder = RecordBuilder(default_mapping(), PiiHasher(pii_key))
        for change in changes:
            row = change.row
            if row is None:
                continue
            if change.table == "transactions":
                t = builder.txn(row)
                yield (
                    "txns",
                    (
                        t.txn_id,
                        t.account_id,
                        t.channel,
                        t.amount,
                        t.currency,
                        t.status,
                        t.at,
                        t.counterparty_account_id,
                        t.merchant_id,
                        t.card_id,
                        t.device_id,
                    ),
                )
            elif change.table == "customers":
                for kind, digest in builder.identities(row):
                    yield ("identities", (row["customer_id"], kind, digest))
            elif change.table == "logins":
                yield ("logins", (row["customer_id"], row["device_id"], row["success"]))
            elif change.table == "accounts":
                yield ("accounts", (row["account_id"], row["customer_id"]))
            elif change.table == "fraud_reports":
                yield ("reports", (row["kind"], row["customer_id"], row["account_id"]))

    return convert


def bank_frames(spark: SparkSession, latest: RDD[RowChange], pii_key: str) -> BankFrames:
    records = latest.mapPartitions(_records(pii_key)).cache()

    def frame(name: str, schema: StructType) -> DataFrame:
        rows = records.filter(lambda item: item[0] == name).map(lambda item: item[1])
        return spark.createDataFrame(rows, schema)

    return BankFrames(
        txns=frame("txns", TXNS),
        identities=frame("identities", IDENTITIES),
        logins=frame("logins", LOGINS),
        accounts=frame("accounts", ACCOUNTS),
        reports=frame("reports", REPORTS),
    ).cache()
