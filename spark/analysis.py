"""The analytics job: features over a window and rings, from one read of the history."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraudgraph.settings import Settings
from fraudgraph.spark.features import Window, account_features
from fraudgraph.spark.frames import BankFrames, bank_frames
from fraudgraph.spark.history import Source, current_rows
from fraudgraph.spark.rings import RingAnalysis, RingSettings, analyse_rings

DAY_MS = 86_400_000


@dataclass
class Analysis:
    frames: BankFrames
    window: Window
    features: DataFrame
    rings: RingAnalysis
    seconds: dict[str, float]


def event_time_window(txns: DataFrame, days: float, until: int | None) -> Window:
    """[until - days, until]; `until` defaults to the newest payment's event time, so a
    rerun over the same history computes the same window."""
    if until is None:
        newest = txns.agg(F.max("at")).first()
        until = int(newest[0]) if newest is not None and newest[0] is not None else 0
    return Window(until - int(days * DAY_MS), until)


def run_analysis(
    spark: SparkSession,
    settings: Settings,
    source: Source,
    *,
    window_days: float = 30.0,
    until: int | None = None,
    rings: RingSettings | None = None,
) -> Analysis:
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    latest = current_rows(spark, settings, source)
    frames = bank_frames(spark, latest, settings.pii_key.get_secret_value())
    window = event_time_window(frames.txns, window_days, until)
    seconds["read"] = time.perf_counter() - began
    began = time.perf_counter()
    features = account_features(frames.txns, window).cache()
    features.count()
    seconds["features"] = time.perf_counter() - began
    began = time.perf_counter()
    found = analyse_rings(frames, rings or RingSettings())
    seconds["rings"] = time.perf_counter() - began
    return Analysis(frames, window, features, found, seconds)
