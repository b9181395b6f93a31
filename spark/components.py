"""Connected components on the engine: min-label propagation in DataFrame operations.

GraphFrames has Spark 4 builds, but not on the Maven Central this project installs
from (spark/README.md), so components are computed here: every vertex starts with
its own id as label and takes the smallest label among itself and its neighbours
until nothing changes (at most the graph's diameter rounds). Plans grow with every
round, so the labels are checkpointed every few rounds.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CHECKPOINT_EVERY = 3
MAX_ROUNDS = 200


def connected_components(edges: DataFrame, *, src: str = "a", dst: str = "b") -> DataFrame:
    """(vertex, component) for every vertex of the undirected `edges`; a component is
    named by its smallest vertex id."""
    both = (
        edges.select(F.col(src).alias("v"), F.col(dst).alias("u"))
        .union(edges.select(F.col(dst).alias("v"), F.col(src).alias("u")))
        .where(F.col("v") != F.col("u"))
        .distinct()
        .cache()
    )
    labels = both.select("v").distinct().withColumn("label", F.col("v")).cache()
    for round_number in range(1, MAX_ROUNDS + 1):
        offered = (
            both.join(labels.withColumnRenamed("v", "u"), "u")
            .groupBy("v")
            .agg(F.min("label").alias("offer"))
        )
        updated = labels.join(offered, "v", "left").select(
            "v", F.least("label", F.coalesce("offer", "label")).alias("label")
        )
        if round_number % CHECKPOINT_EVERY == 0:
            updated = updated.checkpoint()
        else:
            updated = updated.localCheckpoint()
        changed = updated.join(labels.withColumnRenamed("label", "old"), "v").where(
            F.col("label") != F.col("old")
        )
        done = changed.isEmpty()
        labels.unpersist()
        labels = updated
        if done:
            break
    else:
        raise RuntimeError(f"components did not converge in {MAX_ROUNDS} rounds")
    both.unpersist()
    return labels.select(F.col("v").alias("vertex"), F.col("label").alias("component"))
