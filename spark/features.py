"""Per-account behaviour features over a window: the statistics the anomaly detectors
compute one payment at a time (amount_outlier's 30-day history: how many payments,
their median, maximum, and the robust spread of log amounts; what the account
received), computed for every account at once with DataFrame operations.

`reference_features` computes the same from any `HistorySource` with the detectors'
own helpers (`detection/stats.py`); the tests compare the two on one bank.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudgraph.detection.history import HistorySource, Txn
from fraudgraph.detection.stats import MAD_TO_SIGMA, mad, median

FEATURE_COLUMNS = (
    "payments",
    "total",
    "max_amount",
    "median_amount",
    "log_median",
    "log_sigma",
    "counterparties",
    "received",
    "received_total",
)


@dataclass(frozen=True)
class Window:
    since: int  # epoch ms, inclusive
    until: int


def _counts(txn: Txn) -> bool:
    """A payment in the account's own history, as amount_outlier keeps it."""
    return txn.counts and txn.amount > 0


def account_features(txns: DataFrame, window: Window) -> DataFrame:
    """One row per account that paid or received in the window."""
    inside = txns.where(
        (F.col("at") >= window.since)
        & (F.col("at") <= window.until)
        & (F.col("status") != "reversed")
    )
    paid = inside.where(F.col("amount") > 0).withColumn("log_amount", F.log10("amount"))
    location = paid.groupBy("account_id").agg(
        F.count("*").alias("payments"),
        F.sum("amount").alias("total"),
        F.max("amount").alias("max_amount"),
        F.percentile("amount", 0.5).alias("median_amount"),
        F.percentile("log_amount", 0.5).alias("log_median"),
        F.countDistinct("counterparty_account_id").alias("counterparties"),
    )
    spread = (
        paid.join(location.select("account_id", "log_median"), "account_id")
        .withColumn("deviation", F.abs(F.col("log_amount") - F.col("log_median")))
        .groupBy("account_id")
        .agg((F.percentile("deviation", 0.5) * MAD_TO_SIGMA).alias("log_sigma"))
    )
    received = (
        inside.where(F.col("counterparty_account_id").isNotNull())
        .groupBy(F.col("counterparty_account_id").alias("account_id"))
        .agg(F.count("*").alias("received"), F.sum("amount").alias("received_total"))
    )
    return (
        location.join(spread, "account_id")
        .join(received, "account_id", "full_outer")
        .fillna(0, subset=["payments", "total", "counterparties", "received", "received_total"])
        .select("account_id", *FEATURE_COLUMNS)
    )


def reference_features(
    history: HistorySource, account_ids: Collection[int], window: Window
) -> dict[int, dict[str, float]]:
    """The same features from the detectors' history questions, one account at a time."""
    sent = history.sent(account_ids, window.since, window.until)
    got = history.received(account_ids, window.since, window.until)
    found: dict[int, dict[str, float]] = {}
    for account_id in account_ids:
        paid = [t for t in sent.get(account_id, []) if _counts(t)]
        received = [t for t in got.get(account_id, []) if t.counts]
        if not paid and not received:
            continue
        amounts = [t.amount for t in paid]
        logs = [math.log10(a) for a in amounts]
        found[account_id] = {
            "payments": len(paid),
            "total": sum(amounts),
            "max_amount": max(amounts) if amounts else math.nan,
            "median_amount": median(amounts) if amounts else math.nan,
            "log_median": median(logs) if logs else math.nan,
            "log_sigma": MAD_TO_SIGMA * mad(logs) if logs else math.nan,
            "counterparties": len(
                {t.counterparty_account_id for t in paid if t.counterparty_account_id is not None}
            ),
            "received": len(received),
            "received_total": sum(t.amount for t in received),
        }
    return found
