"""The Spark jobs' logic on a local session against the single-machine answers: no services.

Components against networkx, rings against `find_rings` on the whole graph, features
against the detectors' statistics over the same simulated bank, newest change per row.
"""

from __future__ import annotations

import math
import random

import networkx as nx  # type: ignore[import-untyped]
import pytest
from pyspark.sql import SparkSession

from fraudgraph.bench.clusters import synthetic_identity_bank
from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.detection import clusters
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.options import make_options
from fraudgraph.spark.analysis import event_time_window
from fraudgraph.spark.components import connected_components
from fraudgraph.spark.features import FEATURE_COLUMNS, account_features, reference_features
from fraudgraph.spark.frames import bank_frames
from fraudgraph.spark.rings import RingSettings, rings_from_links
from fraudgraph.spark.sources import latest_per_row
from tests.spark_support import spark_fixture  # noqa: F401 - the shared session

KEY = "unit-test-key-not-a-secret"
# py4j leaves its gateway sockets to the garbage collector.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def test_components_equal_networkx_on_a_random_forest_of_chains(spark: SparkSession) -> None:
    rng = random.Random(5)
    edges = [(rng.randrange(400), rng.randrange(400)) for _ in range(300)]
    edges += [(1000 + i, 1001 + i) for i in range(12)]  # a long chain: many rounds
    frame = spark.createDataFrame(edges, "a long, b long")
    found: dict[int, set[int]] = {}
    for row in connected_components(frame).collect():
        found.setdefault(row["component"], set()).add(row["vertex"])
    graph = nx.Graph([(a, b) for a, b in edges if a != b])
    expected = {min(c): set(c) for c in nx.connected_components(graph)}
    assert found == expected


def test_rings_per_component_equal_the_whole_graph_analysis(spark: SparkSession) -> None:
    bank = synthetic_identity_bank(8000, seed=3)
    links = clusters.focus(bank.links)
    reported = sorted({m for ring in bank.rings for m in ring[:1]})
    expected = clusters.find_rings(links, reported)
    frame = spark.createDataFrame(
        [(k.a, k.b, k.kind, k.amount) for k in links], "a long, b long, kind string, amount double"
    )
    found = rings_from_links(
        frame, spark.createDataFrame([(c,) for c in reported], "customer_id long"), RingSettings()
    )
    assert len(expected) >= 5
    assert [r.members for r in found.rings] == [r.members for r in expected]
    assert [r.score for r in found.rings] == [r.score for r in expected]
    assert [r.reported for r in found.rings] == [r.reported for r in expected]


def _change(key: int, lsn: int, offset: int, status: str) -> RowChange:
    row = {"txn_id": key, "status": status}
    return RowChange("transactions", "u", {"txn_id": key}, row, lsn, 0, Position("t", 0, offset))


def test_newest_change_per_row_by_lsn_then_offset(spark: SparkSession) -> None:
    changes = [
        _change(1, 10, 0, "first"),
        _change(1, 30, 1, "newest"),
        _change(1, 20, 2, "late but older"),
        _change(2, 5, 3, "tie, earlier record"),
        _change(2, 5, 4, "tie, later record"),
    ]
    latest = latest_per_row(spark.sparkContext.parallelize(changes, 3)).collect()
    assert {c.key["txn_id"]: c.row["status"] for c in latest if c.row} == {
        1: "newest",
        2: "tie, later record",
    }


@pytest.fixture(scope="module")
def simulated() -> dict[str, list[object]]:
    return generate(make_options(seed=4, customers=300, days=5)).tables


def test_features_equal_the_detectors_statistics(
    spark: SparkSession, simulated: dict[str, list[object]]
) -> None:
    changes = changes_of(simulated, "snapshot")  # type: ignore[arg-type]
    frames = bank_frames(spark, spark.sparkContext.parallelize(changes, 4), KEY)
    window = event_time_window(frames.txns, 2.0, None)
    got = {row["account_id"]: row for row in account_features(frames.txns, window).collect()}
    builder = RecordBuilder(default_mapping(), PiiHasher(KEY))
    history = MemoryHistory.from_tables(builder, simulated)  # type: ignore[arg-type]
    accounts = [row.account_id for row in simulated["accounts"]]  # type: ignore[attr-defined]
    expected = reference_features(history, accounts, window)
    assert len(expected) > 100
    assert set(got) == set(expected)
    for account, values in expected.items():
        for name in FEATURE_COLUMNS:
            mine = got[account][name]
            if math.isnan(values[name]):
                assert mine is None, (account, name)
            else:
                assert mine == pytest.approx(values[name], rel=1e-9, abs=1e-9), (account, name)
