"""Connected components on the engine: min-label propagation in DataFrame operations.

GraphFrames has Spark 4 builds, but not on the Maven Central this project installs
from (spark/README.md), so components are computed here. Every vertex starts with
its own id as label; each round it takes the smallest label among itself and its
neighbours, then the label of its label (pointer jumping: a chain of n vertices
settles in about log n rounds instead of n). Labels are always ids of vertices of the
same component and only decrease, so at the fixpoint every vertex holds its
component's smallest id. Each round's labels are checkpointed (reliably every few
rounds), so plans do not grow and the change test reads stored data.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

CHECKPOINT_EVERY = 4
MAX_ROUNDS = 100


def connected_components(edges: DataFrame, *, src: str = "a", dst: str = "b") -> DataFrame:
    """(vertex, component) for every vertex of the undirected `edges`; a component is
    named by its smallest vertex id."""
    both = (
        edges.select(F.col(src).alias("v"), F.col(dst).alias("u"))
        .union(edges.select(F.col(dst).alias("v"), F.col(src).alias("u")))
        .where(F.col("v") != F.col("u"))
        .distinct()
        .localCheckpoint()
    )
    labels = both.select("v").distinct().withColumn("label", F.col("v")).localCheckpoint()
    for round_number in range(1, MAX_ROUNDS + 1):
        offered = (
            both.join(labels.withColumnRenamed("v", "u"), "u")
            .groupBy("v")
            .agg(F.min("label").alias("offer"))
        )
        stepped = labels.join(offered, "v").select(
            "v", F.col("label").alias("old"), F.least("label", "offer").alias("step")
        )
        jumped = stepped.join(
            labels.select(F.col("v").alias("step"), F.col("label").alias("via")), "step"
        ).select("v", "old", F.least("step", "via").alias("label"))
        reliable = round_number % CHECKPOINT_EVERY == 0
        updated = jumped.checkpoint() if reliable else jumped.localCheckpoint()
        settled = updated.where(F.col("label") != F.col("old")).isEmpty()
        labels = updated.select("v", "label")
        if settled:
            return labels.select(F.col("v").alias("vertex"), F.col("label").alias("component"))
    raise RuntimeError(f"components did not converge in {MAX_ROUNDS} rounds")
