"""A worker started before any data reads the first change within seconds.

The failure this guards against: on a fresh stack the worker started while no CDC
topic existed (Connect creates one only at its table's first record), Faust
ignored the missing topics, and the first rows reached Neo4j only after the
worker's five-minute metadata refresh. Here everything is first: a topic prefix,
connector, replication slot and consumer group nobody used before, applied with
`fraudgraph connectors apply`, and a worker that starts before any row is written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import neo4j
import orjson
import psycopg
import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient, ConfigResource

from fraudgraph.connectors.definitions import ConnectorDefinition
from fraudgraph.contract import BANK_TABLES
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.waiting import wait_for
from tests.support import (
    WorkerProcess,
    private_run,
    removed_afterwards,
    run_cli,
    run_connector,
)

pytestmark = pytest.mark.integration

# "Within seconds": the measured figures are far below (see the report printed).
DEADLINE_S = 30.0
LATE_TABLE = "fraud_reports"


@dataclass
class FirstRun:
    settings: Settings
    definition: ConnectorDefinition
    admin: AdminClient
    driver: neo4j.Driver
    worker: WorkerProcess
    created: dict[str, tuple[int, dict[str, str]]]  # topic -> partitions, topic config
    second_apply: str

    def topic(self, table: str) -> str:
        return f"{self.settings.topic_prefix}.bank.{table}"

    def commit(self, statement: str, params: tuple[object, ...]) -> float:
        with psycopg.connect(self.settings.pg_dsn.get_secret_value(), autocommit=True) as db:
            db.execute(statement, params)
        return time.monotonic()

    def seconds_until_node(self, label: str, key: str, value: int, since: float) -> float:
        """Wait (to the deadline) until the node is in Neo4j; seconds since `since`."""
        cypher = f"MATCH (n:{label} {{{key}: $value}}) RETURN count(n) AS n"

        def present() -> bool:
            records, _, _ = self.driver.execute_query(cypher, {"value": value})
            return bool(records[0]["n"])

        wait_for(
            present,
            what=f"{label} {value} in Neo4j",
            timeout=DEADLINE_S,
            interval=0.05,
            abort=self.worker.exit_reason,
        )
        return time.monotonic() - since


def _describe(admin: AdminClient, topics: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    metadata = admin.list_topics(timeout=10).topics
    found = [topic for topic in topics if topic in metadata]
    resources = [ConfigResource("topic", topic) for topic in found]
    described: dict[str, tuple[int, dict[str, str]]] = {}
    if not resources:
        return described
    for resource, future in admin.describe_configs(resources).items():
        entries = future.result()
        config = {key: entries[key].value for key in ("cleanup.policy", "retention.ms")}
        described[resource.name] = (len(metadata[resource.name].partitions), config)
    return described


def _joined(admin: AdminClient, group: str) -> bool:
    """Whether a member of `group` runs with its assignment (what it holds is its own)."""
    (future,) = admin.describe_consumer_groups([group]).values()
    description = future.result()
    return description.state == ConsumerGroupState.STABLE and bool(description.members)


@pytest.fixture(scope="module")
def first_run(
    settings: Settings, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRun]:
    local = private_run(settings, "first")
    # no_data: rows earlier tests left in the bank are not snapshotted, so nothing
    # reaches these topics before the worker runs, as on a wiped stack.
    definition = run_connector(local.topic_prefix, **{"snapshot.mode": "no_data"})
    path = tmp_path_factory.mktemp("connector") / "first.json"
    path.write_bytes(orjson.dumps({"name": definition.name, "config": definition.config}))
    admin = AdminClient({"bootstrap.servers": local.kafka_bootstrap})
    topics = [f"{local.topic_prefix}.bank.{table}" for table in BANK_TABLES]
    auth = (local.neo4j_user, local.neo4j_password.get_secret_value())
    try:
        with (
            removed_afterwards(settings, stack, definition),
            neo4j.GraphDatabase.driver(local.neo4j_uri, auth=auth) as driver,
        ):
            applied = run_cli("connectors", "apply", str(path), settings=local)
            assert applied.returncode == 0, applied.stderr
            created = _describe(admin, topics)
            again = run_cli("connectors", "apply", str(path), settings=local)
            assert again.returncode == 0, again.stderr
            # A topic nothing created before its table's first change (a table added to
            # the connector later): Connect creates it at that first record.
            late = f"{local.topic_prefix}.bank.{LATE_TABLE}"
            if late in admin.list_topics(timeout=10).topics:
                admin.delete_topics([late])[late].result(timeout=30)
            wait_for(
                lambda: late not in admin.list_topics(timeout=10).topics,
                what=f"{late} deleted",
                timeout=30,
            )
            worker = WorkerProcess(local)
            worker.start()
            try:
                # Started before any row is written: wait until it has joined its group.
                wait_for(
                    lambda: _joined(admin, local.worker_group),
                    what="the worker in its group",
                    timeout=120,
                    abort=worker.exit_reason,
                )
                yield FirstRun(local, definition, admin, driver, worker, created, again.stderr)
            finally:
                worker.kill()
    finally:
        # After the connector is gone (its heartbeat would recreate a topic): the run's
        # CDC, heartbeat, output and Faust topics, all named after the run's own prefix.
        ours = [t for t in admin.list_topics(timeout=10).topics if local.topic_prefix in t]
        if ours:
            for future in admin.delete_topics(ours).values():
                future.result(timeout=30)


def test_apply_creates_every_captured_tables_topic_from_the_connector_file(
    first_run: FirstRun,
) -> None:
    config = first_run.definition.config
    partitions = first_run.settings.cdc_partitions
    assert config["topic.creation.default.partitions"] == "${env:FRAUDGRAPH_CDC_PARTITIONS}"
    expected = (
        partitions,
        {
            "cleanup.policy": config["topic.creation.default.cleanup.policy"],
            "retention.ms": config["topic.creation.default.retention.ms"],
        },
    )
    assert first_run.created == {first_run.topic(table): expected for table in BANK_TABLES}
    # A second apply creates nothing and changes nothing.
    assert "created topics" not in first_run.second_apply
    assert "unchanged" in first_run.second_apply


def test_a_worker_started_before_any_data_writes_the_first_row_within_seconds(
    first_run: FirstRun,
) -> None:
    customer = random.randint(10**12, 2 * 10**12)
    try:
        committed = first_run.commit(
            "INSERT INTO bank.customers (customer_id, full_name, email, country)"
            " VALUES (%s, 'First Row', 'first@example.org', 'GB')",
            (customer,),
        )
        seconds = first_run.seconds_until_node("Customer", "customer_id", customer, committed)
        print(f"first row: commit -> Neo4j {seconds * 1000:.0f} ms")
    finally:
        first_run.commit("DELETE FROM bank.customers WHERE customer_id = %s", (customer,))


def test_a_topic_created_after_the_worker_started_is_read_within_seconds(
    first_run: FirstRun,
) -> None:
    late = first_run.topic(LATE_TABLE)
    assert late not in first_run.admin.list_topics(timeout=10).topics
    row = random.randint(10**12, 2 * 10**12)
    try:
        first_run.commit(
            "INSERT INTO bank.customers (customer_id, full_name, email, country)"
            " VALUES (%s, 'Reported', 'reported@example.org', 'GB')",
            (row,),
        )
        committed = first_run.commit(
            "INSERT INTO bank.fraud_reports (report_id, kind, customer_id, note)"
            " VALUES (%s, 'confirmed_fraud', %s, 'first report')",
            (row, row),
        )
        seconds = first_run.seconds_until_node("FraudReport", "report_id", row, committed)
        print(f"topic created after the worker started: commit -> Neo4j {seconds * 1000:.0f} ms")
        assert late in first_run.admin.list_topics(timeout=10).topics  # Connect made it
    finally:
        first_run.commit("DELETE FROM bank.fraud_reports WHERE report_id = %s", (row,))
        first_run.commit("DELETE FROM bank.customers WHERE customer_id = %s", (row,))
