"""The Spark path on the real stack: backfill + stream equals stream alone, and Spark's
features and rings equal the streaming path's on the same simulated bank.

One private connector (own topics) captures a small simulated bank; history gets
updates and deletes before and after the backfill. The module starts a Neo4j of its
own (others write to the shared one meanwhile); Community has one database, so the
two graphs are built one after the other and compared by their canonical lines
(`graph/admin.py`; neither may hold an orphaned reference stub: see ORPHAN_STUBS),
emptied in between.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import neo4j
import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import SparkSession

from fraudgraph.bench.observe import GroupProgress
from fraudgraph.bench.preload import delete_run_topics
from fraudgraph.bench.spark_neo4j import own_neo4j
from fraudgraph.contract import BANK_TABLES
from fraudgraph.detection.clusters import fetch_suspicious_links, find_rings, ring_findings
from fraudgraph.detection.graph_history import GraphHistory
from fraudgraph.graph.admin import canonical_lines, clear_graph
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.spark.analysis import run_analysis
from fraudgraph.spark.backfill import run_backfill
from fraudgraph.spark.features import FEATURE_COLUMNS, Window, reference_features
from fraudgraph.spark.history import Source
from fraudgraph.spark.results import publish_alerts, ring_alerts
from fraudgraph.spark.sources import decode_with_dead_letters
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.spark_support import spark_fixture  # noqa: F401 - the shared session
from tests.support import (
    WorkerProcess,
    collect,
    end_offsets,
    private_run,
    run_cli,
    temporary_connector,
    wait_until_consumed,
)

pytestmark = [
    pytest.mark.integration,
    # py4j leaves its gateway sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
CHANGES_PER_PHASE = 4


@dataclass
class Bank:
    settings: Settings
    topics: list[str]
    driver: neo4j.Driver
    dsn: str

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            return connection.execute(statement, params).fetchall()

    def topic(self, table: str) -> str:
        return f"{self.settings.topic_prefix}.{self.settings.source_schema}.{table}"

    def records(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (topic, _), end in end_offsets(self.settings.kafka_bootstrap, self.topics).items():
            counts[topic] = counts.get(topic, 0) + end
        return counts

    def change_history(self, phase: int) -> None:
        """Updates, deletes and an e-mail change; waits until their events are in Kafka."""
        before = self.records()
        n = CHANGES_PER_PHASE
        self.sql(
            "UPDATE bank.transactions SET status = 'reversed', updated_at = now() WHERE txn_id IN"
            " (SELECT txn_id FROM bank.transactions WHERE status <> 'reversed'"
            "  ORDER BY txn_id LIMIT %s) RETURNING txn_id",
            (n,),
        )
        self.sql(
            "DELETE FROM bank.logins WHERE login_id IN"
            " (SELECT login_id FROM bank.logins ORDER BY login_id DESC LIMIT %s)"
            " RETURNING login_id",
            (n,),
        )
        self.sql(
            "UPDATE bank.customers SET email = 'moved-' || customer_id || '-' || %s || "
            "'@example.org', updated_at = now() WHERE customer_id IN"
            " (SELECT customer_id FROM bank.customers ORDER BY customer_id LIMIT %s)"
            " RETURNING customer_id",
            (phase, n),
        )
        expected = {
            self.topic("transactions"): before[self.topic("transactions")] + n,
            self.topic("logins"): before[self.topic("logins")] + 2 * n,  # delete + tombstone
            self.topic("customers"): before[self.topic("customers")] + n,
        }
        wait_for(
            lambda: all(self.records()[t] >= count for t, count in expected.items()),
            what=f"phase {phase} changes in Kafka",
            timeout=120,
        )


@pytest.fixture(scope="module")
def neo4j_of_its_own(settings: Settings, stack: Stack) -> Iterator[Settings]:
    with own_neo4j(settings, stack) as own:
        yield own


@pytest.fixture(scope="module")
def bank(settings: Settings, stack: Stack, neo4j_of_its_own: Settings) -> Iterator[Bank]:
    loaded = run_cli(
        "simulate", "--bulk", "--reset", "--customers", "150", "--days", "2", "--seed", "21",
        settings=settings,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    local = private_run(neo4j_of_its_own, "sp")
    topics = cdc_topics(local, default_mapping())
    ensure_topics(local.kafka_bootstrap, topics)
    auth = (local.neo4j_user, local.neo4j_password.get_secret_value())
    with (
        neo4j.GraphDatabase.driver(local.neo4j_uri, auth=auth) as driver,
        temporary_connector(local, stack, local.topic_prefix),
    ):
        result = Bank(local, topics, driver, local.pg_dsn.get_secret_value())
        rows = {t: result.sql(f"SELECT count(*) FROM bank.{t}")[0][0] for t in BANK_TABLES}  # noqa: S608
        wait_for(
            lambda: all(result.records()[result.topic(t)] >= n for t, n in rows.items()),
            what="the snapshot of the simulated bank in Kafka",
            timeout=180,
        )
        result.change_history(1)
        try:
            yield result
        finally:
            delete_run_topics(local.kafka_bootstrap, local.topic_prefix)
            for suffix in ("bf", "only"):
                group = f"{local.topic_prefix}-{suffix}"
                GroupProgress(local.kafka_bootstrap, group, []).delete_group()


def _stream(bank: Bank, group: str) -> None:
    worker = WorkerProcess(bank.settings.model_copy(update={"worker_group": group}))
    worker.start()
    try:
        wait_until_consumed(bank.settings.kafka_bootstrap, group, bank.topics, timeout=240)
    finally:
        worker.kill()


def _committed(bank: Bank, group: str) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bank.settings.kafka_bootstrap, "group.id": group})
    try:
        partitions = [TopicPartition(t, p) for t, p in end_offsets(
            bank.settings.kafka_bootstrap, bank.topics)]  # fmt: skip
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions)}
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def graphs(bank: Bank, spark: SparkSession) -> dict[str, Any]:
    """Backfill of phase 1 + the stream for phase 2, then the stream alone for all."""
    clear_graph(bank.driver)
    handed = bank.settings.model_copy(update={"worker_group": f"{bank.settings.topic_prefix}-bf"})
    covered_end = end_offsets(bank.settings.kafka_bootstrap, bank.topics)
    result = run_backfill(spark, handed, partitions=4)
    after_backfill = _committed(bank, handed.worker_group)
    loaded = settled_lines(bank.driver)
    # As after a backfill that failed late: the graph is no longer empty.
    rerun = run_backfill(spark, handed, partitions=4, handover=False)
    rerun_lines = settled_lines(bank.driver)
    bank.change_history(2)
    _stream(bank, handed.worker_group)
    backfilled = settled_lines(bank.driver)
    clear_graph(bank.driver)
    _stream(bank, f"{bank.settings.topic_prefix}-only")
    return {
        "backfill": result,
        "loaded": loaded,
        "rerun": rerun,
        "rerun_lines": rerun_lines,
        "covered_end": covered_end,
        "handover": after_backfill,
        "backfilled": backfilled,
        "streamed": settled_lines(bank.driver),
    }


# A node known only by reference (no row of its own: no _lsn) that nothing links to
# any more, e.g. the IP of a deleted login. The worker used to leave one when the row's
# older version and its change arrived in different batches (none when one batch held
# both); it now removes such stubs (graph/cypher.py), so neither graph may hold one.
ORPHAN_STUBS = """
MATCH (n) WHERE n._lsn IS NULL AND NOT n:_Deleted AND NOT EXISTS { (n)--() }
RETURN labels(n) AS labels, properties(n) AS props
"""


def settled_lines(driver: neo4j.Driver) -> list[bytes]:
    """The canonical lines (graph/admin.py), after checking no orphaned stub is left."""
    records, _, _ = driver.execute_query(ORPHAN_STUBS)
    assert [r.data() for r in records][:5] == []
    return canonical_lines(driver)


def test_backfill_then_stream_equals_streaming_everything(
    bank: Bank, graphs: dict[str, Any]
) -> None:
    assert graphs["backfill"].rows_written > 0
    assert graphs["backfill"].dead_letters == 0
    backfilled, streamed = graphs["backfilled"], graphs["streamed"]
    assert len(streamed) > 2000, "the graph holds the simulated bank"
    if backfilled != streamed:
        only_backfilled, only_streamed = (
            set(backfilled) - set(streamed),
            set(streamed) - set(backfilled),
        )
        raise AssertionError(
            f"only after backfill: {sorted(only_backfilled)[:3]}; "
            f"only streamed: {sorted(only_streamed)[:3]}"
        )


def test_a_backfill_into_an_empty_graph_loads_it(graphs: dict[str, Any]) -> None:
    assert graphs["backfill"].mode == "load"


def test_a_rerun_over_a_written_graph_is_guarded_and_changes_nothing(
    graphs: dict[str, Any],
) -> None:
    assert graphs["rerun"].mode == "guarded"
    assert graphs["rerun"].rows_written > 0
    assert graphs["rerun_lines"] == graphs["loaded"]


def test_handover_starts_the_worker_where_the_backfill_ended(graphs: dict[str, Any]) -> None:
    # The backfill read up to the ends taken when it started (nothing was written in
    # between), and committed exactly those for the worker's group.
    assert graphs["handover"] == graphs["covered_end"]
    assert graphs["backfill"].records == sum(graphs["covered_end"].values())


@pytest.fixture(scope="module")
def analysis(bank: Bank, graphs: dict[str, Any], spark: SparkSession) -> Any:
    """Spark's analysis of the topics; the graph holds the streamed bank meanwhile."""
    return run_analysis(spark, bank.settings, Source.kafka, window_days=1.0)


def _same(left: float | None, right: float) -> bool:
    if left is None or (isinstance(left, float) and math.isnan(left)):
        return math.isnan(right)
    return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)


def test_spark_features_equal_the_streaming_paths(bank: Bank, analysis: Any) -> None:
    window: Window = analysis.window
    spark_rows = {row["account_id"]: row for row in analysis.features.collect()}
    accounts = [row[0] for row in bank.sql("SELECT account_id FROM bank.accounts")]
    expected = reference_features(GraphHistory(bank.driver), accounts, window)
    assert len(expected) > 50, "the window holds payments of many accounts"
    assert set(spark_rows) == set(expected)
    wrong = [
        (account, name, spark_rows[account][name], values[name])
        for account, values in expected.items()
        for name in FEATURE_COLUMNS
        if not _same(spark_rows[account][name], values[name])
    ]
    assert not wrong, wrong[:5]


def test_spark_rings_equal_the_streaming_paths(bank: Bank, analysis: Any) -> None:
    found = fetch_suspicious_links(bank.driver)
    expected = find_rings(found.links, found.reported)
    assert expected, "the simulated bank has rings"
    spark_rings = analysis.rings.rings
    assert [r.members for r in spark_rings] == [r.members for r in expected]
    for mine, theirs in zip(spark_rings, expected, strict=True):
        assert (mine.component_size, mine.strong_links, mine.reported) == (
            theirs.component_size,
            theirs.strong_links,
            theirs.reported,
        )
        assert mine.score == pytest.approx(theirs.score)
        assert mine.money == pytest.approx(theirs.money, abs=0.011)


def test_ring_alerts_reach_the_topic_with_the_streaming_paths_ids(
    bank: Bank, analysis: Any
) -> None:
    found = fetch_suspicious_links(bank.driver)
    expected_ids = {f.alert_id for f in ring_findings(find_rings(found.links, found.reported), {})}
    alerts = ring_alerts(analysis.rings.rings, analysis.rings.accounts_of, 1, min_score=0.6)
    assert {a["alert_id"] for a in alerts} == expected_ids
    topic = f"{bank.settings.alerts_topic}-{uuid.uuid4().hex[:6]}"
    ensure_topics(bank.settings.kafka_bootstrap, [topic])
    publish_alerts(bank.settings.model_copy(update={"alerts_topic": topic}), alerts)
    seen = collect(
        bank.settings.kafka_bootstrap,
        topic,
        lambda records: len(records) >= len(alerts),
        timeout=60,
    )
    assert {r.value["alert_id"] for r in seen} == expected_ids


def test_postgres_snapshot_finds_the_same_rings(
    bank: Bank, analysis: Any, spark: SparkSession
) -> None:
    from_postgres = run_analysis(spark, bank.settings, Source.postgres, window_days=1.0)
    assert [r.members for r in from_postgres.rings.rings] == [
        r.members for r in analysis.rings.rings
    ]
    assert from_postgres.window == analysis.window
    assert from_postgres.features.count() == analysis.features.count()


KAFKA_RECORD = (
    "key binary, value binary, topic string, partition int, offset long,"
    " headers array<struct<key: string, value: binary>>"
)


def test_a_record_the_decoder_refuses_is_dead_lettered_and_the_rest_goes_on(
    spark: SparkSession, settings: Settings
) -> None:
    """The backfill's one pass: the refused record reaches the dead-letter topic with
    its reason and coordinates, the good one becomes a change, both are counted."""
    local = settings.model_copy(
        update={"deadletter_topic": f"spark-dl-{uuid.uuid4().hex[:8]}.deadletter"}
    )
    topic = f"{local.topic_prefix}.{local.source_schema}.merchants"
    good = orjson.dumps(
        {
            "before": None,
            "after": {"merchant_id": 41, "name": "M", "mcc": "5999", "country": "FR"},
            "source": {"table": "merchants", "lsn": 5, "ts_ms": 1},
            "op": "c",
        }
    )
    headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    frame = spark.createDataFrame(
        [(b"k1", b"{not json", topic, 2, 7, headers), (b"k2", good, topic, 2, 8, [])],
        KAFKA_RECORD,
    )
    counts = (spark.sparkContext.accumulator(0), spark.sparkContext.accumulator(0))
    try:
        ensure_topics(local.kafka_bootstrap, [local.deadletter_topic])  # as run_backfill does
        changes = decode_with_dead_letters(frame, local, 1, counts).collect()
        assert [(c.table, dict(c.key)) for c in changes] == [("merchants", {"merchant_id": 41})]
        assert (counts[0].value, counts[1].value) == (1, 1)
        letters = read_with_headers(local.kafka_bootstrap, local.deadletter_topic, expected=1)
    finally:
        delete_run_topics(local.kafka_bootstrap, local.deadletter_topic.split(".")[0])
    value, letter_headers = letters[0]
    assert value == b"{not json"
    assert letter_headers["dlq.reason"] == b"malformed_json"
    assert (letter_headers["dlq.topic"], letter_headers["dlq.offset"]) == (topic.encode(), b"7")
    assert letter_headers["dlq.partition"] == b"2"
    assert letter_headers["traceparent"] == headers[0][1]


def read_with_headers(
    bootstrap: str, topic: str, expected: int
) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        consumer.subscribe([topic])

        def enough() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append((message.value(), dict(message.headers() or [])))
            return len(found) >= expected

        wait_for(enough, what=f"{expected} records on {topic}", timeout=60)
    finally:
        consumer.close()
    return found
