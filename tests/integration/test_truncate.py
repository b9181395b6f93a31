"""A truncate of source tables under a running worker leaves a graph equal to the source.

Everything is the test's own, because a truncate empties whole tables and the graph
applies it to whole labels: a schema of its own in the bank database (the contract's
tables, its own publication), a connector with its own slot and topic prefix, a worker
in its own consumer group, and a Neo4j of its own (bench/spark_neo4j.py). Nothing
another test or the demo holds is touched.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import neo4j
import psycopg
import pytest
from psycopg import sql

from fraudgraph.bench.spark_neo4j import own_neo4j
from fraudgraph.connectors.apply import apply_connector
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.contract import BANK_TABLES
from fraudgraph.graph.admin import graph_checksum
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.paths import BANK_SCHEMA_SQL
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.pg_bootstrap import CDC_ROLE
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.support import (
    WorkerProcess,
    private_run,
    removed_afterwards,
    run_connector,
    wait_until_consumed,
)

pytestmark = pytest.mark.integration

DEADLINE_S = 120.0
# label -> (table, key); relationship type -> (table, condition): what the source implies.
NODES = {
    "Customer": ("customers", "customer_id"),
    "Account": ("accounts", "account_id"),
    "Transaction": ("transactions", "txn_id"),
    "Device": ("devices", "device_id"),
}
RELATIONSHIPS = {
    "OWNS": ("accounts", "true"),
    "SENT": ("transactions", "true"),
    "TRANSFERRED": ("transactions", "counterparty_account_id IS NOT NULL"),
    "FROM_DEVICE": ("transactions", "device_id IS NOT NULL"),
    "USED": ("logins", "device_id IS NOT NULL"),
    "LOGGED_IN_FROM": ("logins", "true"),
    "HAS_EMAIL": ("customers", "email IS NOT NULL"),
}


@dataclass
class Bank:
    settings: Settings
    schema: str
    dsn: str
    driver: neo4j.Driver
    worker: WorkerProcess
    topics: list[str]

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as db:
            db.execute(f"SET search_path TO {self.schema}")
            db.execute(statement, params)

    def source(self) -> dict[str, Any]:
        """Per label its keys, per relationship type its count, from PostgreSQL."""
        found: dict[str, Any] = {}
        with psycopg.connect(self.dsn) as db:
            for label, (table, key) in NODES.items():
                query = sql.SQL("SELECT {} FROM {}").format(
                    sql.Identifier(key), sql.Identifier(self.schema, table)
                )
                found[label] = sorted(row[0] for row in db.execute(query))
            for rel, (table, condition) in RELATIONSHIPS.items():
                query = sql.SQL("SELECT count(*) FROM {} WHERE " + condition).format(  # noqa: S608 - fixed conditions
                    sql.Identifier(self.schema, table)
                )
                row = db.execute(query).fetchone()
                found[rel] = row[0] if row else 0
        return found

    def graph(self) -> dict[str, Any]:
        """The same from Neo4j: nodes that are rows (with `_lsn`), not stubs."""
        found: dict[str, Any] = {}
        for label, (_, key) in NODES.items():
            records, _, _ = self.driver.execute_query(
                f"MATCH (n:{label}) WHERE n._lsn IS NOT NULL RETURN n.{key} AS k ORDER BY k"
            )
            found[label] = [record["k"] for record in records]
        for rel in RELATIONSHIPS:
            records, _, _ = self.driver.execute_query(
                f"MATCH ()-[r:{rel}]->() RETURN count(r) AS n"
            )
            found[rel] = records[0]["n"]
        return found

    def wait_equal(self, what: str) -> dict[str, Any]:
        wait_for(
            lambda: self.graph() == self.source(),
            what=what,
            timeout=DEADLINE_S,
            interval=0.5,
            abort=self.worker.exit_reason,
        )
        return self.source()

    def scalar(self, cypher: str) -> Any:
        records, _, _ = self.driver.execute_query(cypher)
        return records[0][0]


def _create_schema(dsn: str, schema: str, publication: str) -> None:
    """The contract's tables in `schema`, readable by the CDC role, in a publication."""
    contract = re.sub(r"\bbank\.", f"{schema}.", BANK_SCHEMA_SQL.read_text())
    contract = contract.replace("CREATE SCHEMA IF NOT EXISTS bank;", f"CREATE SCHEMA {schema};")
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(contract)  # type: ignore[call-overload]  # a file, no parameters
        db.execute(
            sql.SQL(
                "GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}"
            ).format(s=sql.Identifier(schema), r=sql.Identifier(CDC_ROLE))
        )
        tables = sql.SQL(", ").join(sql.Identifier(schema, t) for t in BANK_TABLES)
        db.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                sql.Identifier(publication), tables
            )
        )


def _drop_schema(dsn: str, schema: str, publication: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication)))
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def bank(settings: Settings, stack: Stack) -> Iterator[Bank]:
    schema = f"tr_{uuid.uuid4().hex[:8]}"
    publication = f"{schema}_cdc"
    dsn = settings.pg_dsn.get_secret_value()
    _create_schema(dsn, schema, publication)
    try:
        with own_neo4j(settings, stack) as graph_settings:
            local = private_run(graph_settings, "tr", source_schema=schema)
            definition = run_connector(
                local.topic_prefix,
                **{
                    "schema.include.list": schema,
                    "table.include.list": ",".join(f"{schema}.{t}" for t in BANK_TABLES),
                    "publication.name": publication,
                },
            )
            topics = cdc_topics(local, default_mapping())
            ensure_topics(local.kafka_bootstrap, topics)
            auth = (local.neo4j_user, local.neo4j_password.get_secret_value())
            with (
                neo4j.GraphDatabase.driver(
                    local.neo4j_uri, auth=auth, notifications_min_severity="OFF"
                ) as driver,
                removed_afterwards(settings, stack, definition),
            ):
                apply_connector(ConnectClient(settings.connect_url), definition)
                worker = WorkerProcess(local)
                worker.start()
                try:
                    yield Bank(local, schema, dsn, driver, worker, topics)
                finally:
                    worker.kill()
    finally:
        _drop_schema(dsn, schema, publication)


def _load(bank: Bank, base: int, customers: int) -> None:
    """Customers with an account each, a device, logins, and transfers between them."""
    for i in range(customers):
        c = base + i
        bank.execute(
            "INSERT INTO customers (customer_id, full_name, email, country)"
            " VALUES (%s, 'Truncated', %s, 'GB')",
            (c, f"t{c}@example.org"),
        )
        bank.execute(
            "INSERT INTO accounts (account_id, customer_id, iban, kind, currency)"
            " VALUES (%s, %s, %s, 'checking', 'EUR')",
            (c, c, f"GB{c}"),
        )
    bank.execute(
        "INSERT INTO devices (device_id, fingerprint) VALUES (%s, %s)", (base, f"fp{base}")
    )
    for i in range(customers):
        c = base + i
        bank.execute(
            "INSERT INTO logins (login_id, customer_id, device_id, ip_address, success)"
            " VALUES (%s, %s, %s, '10.1.2.3', true)",
            (c, c, base),
        )
        bank.execute(
            "INSERT INTO transactions (txn_id, account_id, counterparty_account_id, device_id,"
            " channel, amount, currency) VALUES (%s, %s, %s, %s, 'transfer', 12.5, 'EUR')",
            (c, c, base + (i + 1) % customers, base),
        )


def test_a_truncate_under_a_running_worker_leaves_the_graph_equal_to_the_source(
    bank: Bank,
) -> None:
    _load(bank, 1000, 6)
    before = bank.wait_equal("the loaded rows in the graph")
    assert len(before["Customer"]) == 6 and before["TRANSFERRED"] == 6

    # One statement, one event per table it empties (CASCADE: accounts, logins, ...).
    bank.execute("TRUNCATE customers CASCADE")
    bank.execute("TRUNCATE devices CASCADE")
    # Rows inserted after it are new rows and stay.
    _load(bank, 2000, 2)
    after = bank.wait_equal("the graph to equal the truncated and refilled source")
    assert after["Customer"] == [2000, 2001] and after["Transaction"] == [2000, 2001]
    assert after["TRANSFERRED"] == 2

    fences = bank.scalar("MATCH (t:_Truncated) RETURN collect(t.table)")
    assert set(fences) >= {"customers", "accounts", "transactions", "logins", "devices"}
    # No stub or identity node of the removed rows is left behind unlinked.
    assert (
        bank.scalar(
            "MATCH (n) WHERE n._lsn IS NULL AND NOT n:_Truncated "
            "AND NOT n:_Deleted AND NOT EXISTS { (n)--() } RETURN count(n)"
        )
        == 0
    )
    assert bank.scalar("MATCH (e:Email) RETURN count(e)") == 2
    assert "table_truncated" in bank.worker.output()

    # Redelivery: a second worker in a new group reads every topic from offset 0 (the
    # old inserts, the truncates, the new rows) into the same graph: nothing changes.
    wait_until_consumed(bank.settings.kafka_bootstrap, bank.settings.worker_group, bank.topics)
    settled = graph_checksum(bank.driver)
    bank.worker.kill()
    again = bank.settings.model_copy(update={"worker_group": f"{bank.settings.worker_group}-again"})
    replay = WorkerProcess(again)
    replay.start()
    try:
        wait_until_consumed(again.kafka_bootstrap, again.worker_group, bank.topics, timeout=180)
        assert replay.exit_reason() is None
        assert graph_checksum(bank.driver) == settled
        assert bank.graph() == bank.source()
    finally:
        replay.kill()
