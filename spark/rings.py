"""Rings at scale: the suspicious subgraph, its components and scored communities.

The same questions `detection/clusters.py` asks Neo4j, asked of the bank's tables
with DataFrame operations: customers holding one phone, e-mail or national id (up to
`max_holders`), devices a few customers use, money among those customers; `focus`
as there. Components come from `spark/components.py` (on the engine). Each
component is then analysed on an executor with the stream's own `find_rings`
(Louvain, tightness, scoring): communities never cross components, and Louvain's
resolution is scaled by the component's share of the graph's weight (m_c / m), which
makes every move's modularity gain the whole graph's times a positive constant, so a
component splits as it does in the whole-graph run (spark/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraudgraph.detection.clusters import DEFAULT_SEED, LINK_WEIGHTS, STRONG, Link, Ring, find_rings
from fraudgraph.spark.components import connected_components
from fraudgraph.spark.frames import BankFrames

MIN_RING = 3


@dataclass(frozen=True)
class RingSettings:
    max_holders: int = 25
    max_device_users: int = 5
    seed: int = DEFAULT_SEED
    resolution: float = 1.0
    min_size: int = MIN_RING


def _holder_pairs(holders: DataFrame, kind: Any) -> DataFrame:
    """Every pair of the customers holding one thing (a clique), as links."""
    left = holders.select("thing", F.explode("holders").alias("a"))
    right = holders.select("thing", F.explode("holders").alias("b"))
    return (
        left.join(right, "thing")
        .where(F.col("a") < F.col("b"))
        .select("a", "b", kind.alias("kind"), F.lit(0.0).alias("amount"))
    )


def suspicious_links(frames: BankFrames, settings: RingSettings) -> DataFrame:
    """(a, b, kind, amount) of the focused suspicious subgraph (`clusters.focus`)."""
    identities = (
        frames.identities.where(F.col("kind").isin(*sorted(STRONG)))
        .groupBy("kind", "hash")
        .agg(F.array_sort(F.collect_set("customer_id")).alias("holders"))
        .where(F.size("holders").between(2, settings.max_holders))
        .select(F.struct("kind", "hash").alias("thing"), "holders", "kind")
    )
    strong = _holder_pairs(identities, F.col("thing.kind"))
    devices = (
        frames.logins.where(F.col("device_id").isNotNull() & F.col("customer_id").isNotNull())
        .groupBy(F.col("device_id").alias("thing"))
        .agg(F.array_sort(F.collect_set("customer_id")).alias("holders"))
        .where(F.size("holders").between(2, settings.max_device_users))
    )
    device_links = _holder_pairs(devices, F.lit("Device"))
    strong_customers = strong.select(F.col("a").alias("c")).union(strong.select("b")).distinct()
    kept_devices = device_links.join(
        strong_customers.withColumnRenamed("c", "a").withColumn("sa", F.lit(True)), "a", "left"
    ).join(strong_customers.withColumnRenamed("c", "b").withColumn("sb", F.lit(True)), "b", "left")
    kept_devices = kept_devices.where(F.col("sa") | F.col("sb")).select("a", "b", "kind", "amount")
    near = (
        strong_customers.union(kept_devices.select("a"))
        .union(kept_devices.select("b"))
        .distinct()
        .cache()
    )
    owners = frames.accounts.where(F.col("customer_id").isNotNull())
    transfers = (
        frames.txns.where(
            F.col("counterparty_account_id").isNotNull() & (F.col("status") != "reversed")
        )
        .join(owners.select("account_id", F.col("customer_id").alias("a")), "account_id")
        .join(
            owners.select(
                F.col("account_id").alias("counterparty_account_id"),
                F.col("customer_id").alias("b"),
            ),
            "counterparty_account_id",
        )
        .where(F.col("a") != F.col("b"))
        .join(near.withColumnRenamed("c", "a"), "a", "left_semi")
        .join(near.withColumnRenamed("c", "b"), "b", "left_semi")
        .groupBy("a", "b")
        .agg(F.sum("amount").alias("amount"))
        .select("a", "b", F.lit("transfer").alias("kind"), "amount")
    )
    return strong.union(kept_devices).union(transfers)


def reported_customers(frames: BankFrames) -> DataFrame:
    """Customers with a confirmed fraud or chargeback report on them or their account."""
    fraud = frames.reports.where(F.col("kind").isin("confirmed_fraud", "chargeback"))
    direct = fraud.where(F.col("customer_id").isNotNull()).select("customer_id")
    via_account = (
        fraud.where(F.col("account_id").isNotNull())
        .select("account_id")
        .join(frames.accounts.where(F.col("customer_id").isNotNull()), "account_id")
        .select("customer_id")
    )
    return direct.union(via_account).distinct()


def _weight(kinds: Iterable[str]) -> float:
    return float(sum(LINK_WEIGHTS.get(kind, 1.0) for kind in set(kinds)))


def _analyse(total_weight: float, settings: RingSettings) -> Any:
    def analyse(item: tuple[int, Iterable[tuple[Any, ...]]]) -> Iterator[Ring]:
        _, rows = item
        links: list[Link] = []
        reported: set[int] = set()
        for a, b, kind, amount, a_reported, b_reported in rows:
            links.append(Link(a, b, kind, amount))
            reported |= {c for c, hit in ((a, a_reported), (b, b_reported)) if hit}
        pair_kinds: dict[tuple[int, int], set[str]] = {}
        for link in links:
            pair_kinds.setdefault((min(link.a, link.b), max(link.a, link.b)), set()).add(link.kind)
        component_weight = sum(_weight(kinds) for kinds in pair_kinds.values())
        yield from find_rings(
            links,
            reported,
            min_size=settings.min_size,
            seed=settings.seed,
            resolution=settings.resolution * component_weight / total_weight,
        )

    return analyse


def graph_weight(links: DataFrame) -> float:
    """Sum of the customer-pair edges' weights (networkx's `graph.size(weight=...)`):
    each distinct kind binding a pair counts its `LINK_WEIGHTS` once."""
    spark = links.sparkSession
    weights = spark.createDataFrame(
        [(kind, float(weight)) for kind, weight in LINK_WEIGHTS.items()], "kind string, w double"
    )
    kinds = links.select(
        F.least("a", "b").alias("x"), F.greatest("a", "b").alias("y"), "kind"
    ).distinct()
    total = (
        kinds.join(F.broadcast(weights), "kind", "left")
        .agg(F.sum(F.coalesce("w", F.lit(1.0))))
        .first()
    )
    return float(total[0] or 0.0) if total is not None else 0.0


@dataclass(frozen=True)
class RingAnalysis:
    components: DataFrame  # (vertex, component)
    rings: list[Ring]
    accounts_of: dict[int, list[int]]


def analyse_rings(frames: BankFrames, settings: RingSettings) -> RingAnalysis:
    """Rings of the bank's current rows (what `analyze clusters` finds in the graph)."""
    links = suspicious_links(frames, settings)
    found = rings_from_links(links, reported_customers(frames), settings)
    return RingAnalysis(found.components, found.rings, accounts_of(frames, found.rings))


def rings_from_links(
    suspicious: DataFrame, reported_customers: DataFrame, settings: RingSettings
) -> RingAnalysis:
    """Components on the engine, then `find_rings` per component on the executors.

    `suspicious`: (a, b, kind, amount) focused links; `reported_customers`: (customer_id).
    """
    links = suspicious.where(F.col("a") != F.col("b")).cache()
    membership = connected_components(links).cache()
    total_weight = graph_weight(links)
    sizes = membership.groupBy("component").agg(F.count("*").alias("size"))
    big = membership.join(sizes.where(F.col("size") >= settings.min_size), "component")
    reported = reported_customers.select("customer_id").distinct()
    hit_a = reported.select(F.col("customer_id").alias("a"), F.lit(True).alias("a_hit"))
    hit_b = reported.select(F.col("customer_id").alias("b"), F.lit(True).alias("b_hit"))
    keyed = (
        links.join(big.select(F.col("vertex").alias("a"), "component"), "a")
        .join(hit_a, "a", "left")
        .join(hit_b, "b", "left")
        .select(
            "component",
            "a",
            "b",
            "kind",
            "amount",
            F.coalesce("a_hit", F.lit(False)),
            F.coalesce("b_hit", F.lit(False)),
        )
    )
    rings: list[Ring] = []
    if total_weight > 0:
        rings = (
            keyed.rdd.map(lambda row: (row[0], tuple(row[1:])))
            .groupByKey()
            .flatMap(_analyse(total_weight, settings))
            .collect()  # the rings only: a few per thousand customers
        )
    rings.sort(key=lambda r: (-r.score, -r.size, r.members))
    links.unpersist()
    return RingAnalysis(membership, rings, {})


def accounts_of(frames: BankFrames, rings: list[Ring]) -> dict[int, list[int]]:
    """The accounts of the rings' members (alerts name them)."""
    members = sorted({c for ring in rings for c in ring.members})
    found: dict[int, list[int]] = {}
    if members:
        for row in (
            frames.accounts.where(F.col("customer_id").isin(members))
            .groupBy("customer_id")
            .agg(F.array_sort(F.collect_list("account_id")).alias("accounts"))
            .collect()
        ):
            found[int(row["customer_id"])] = [int(a) for a in row["accounts"]]
    return found
