"""The stream processor on the real stack: PostgreSQL -> Debezium -> Kafka -> worker -> Neo4j.

A small simulated bank is captured by its own connector (own slot and topics) and
written by a worker in its own consumer group, so nothing else on the topics
interferes. The graph must equal what the source rows imply, however events are
redelivered, reordered, replayed or interrupted.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import neo4j
import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from psycopg.rows import dict_row

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.contract import BANK_TABLES
from fraudgraph.detection.graph_history import GraphHistory
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.graph.admin import canonical_lines, clear_graph, graph_checksum
from fraudgraph.graph.connection import graph_writer
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import graph_value
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.support import (
    WorkerProcess,
    private_run,
    run_cli,
    temporary_connector,
    wait_until_consumed,
)

pytestmark = pytest.mark.integration

ENTITY_TABLES = {
    "customers": "Customer",
    "accounts": "Account",
    "cards": "Card",
    "devices": "Device",
    "merchants": "Merchant",
    "transactions": "Transaction",
    "fraud_reports": "FraudReport",
}
# Relationship type -> (table, condition): the source rows that each imply one.
RELATIONSHIP_SOURCES = {
    "OWNS": ("accounts", "true"),
    "HOLDS": ("cards", "true"),
    "USED": ("logins", "device_id IS NOT NULL"),
    "LOGGED_IN_FROM": ("logins", "true"),
    "SENT": ("transactions", "true"),
    "TO_ACCOUNT": ("transactions", "counterparty_account_id IS NOT NULL"),
    "TRANSFERRED": ("transactions", "counterparty_account_id IS NOT NULL"),
    "TO_EXTERNAL": ("transactions", "counterparty_iban IS NOT NULL"),
    "AT_MERCHANT": ("transactions", "merchant_id IS NOT NULL"),
    "PAID": ("transactions", "merchant_id IS NOT NULL"),
    "WITH_CARD": ("transactions", "card_id IS NOT NULL"),
    "FROM_DEVICE": ("transactions", "device_id IS NOT NULL"),
    "FROM_IP": ("transactions", "ip_address IS NOT NULL"),
    "HAS_EMAIL": ("customers", "btrim(coalesce(email, '')) <> ''"),
}
REPORTS_SQL = (
    "SELECT count(customer_id) + count(account_id) + count(txn_id) FROM bank.fraud_reports"
)


@dataclass
class Pipeline:
    settings: Settings
    topics: list[str]
    driver: neo4j.Driver
    worker: WorkerProcess
    dsn: str

    def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        records, _, _ = self.driver.execute_query(cypher, params)
        return [record.data() for record in records]

    def scalar(self, cypher: str, **params: Any) -> Any:
        (row,) = self.query(cypher, **params)
        return next(iter(row.values()))

    def wait_nodes(self, label: str, key: str, value: int, count: int, what: str) -> None:
        """Wait until `count` nodes of `label` have `key` = `value` (names are the tests')."""
        cypher = f"MATCH (n:{label} {{{key}: $value}}) RETURN count(n)"
        wait_for(lambda: self.scalar(cypher, value=value) == count, what=what, timeout=60)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            row = connection.execute(statement, params).fetchone()
            return row[0] if row else None

    def consumed(self, group: str | None = None, timeout: float = 180) -> None:
        wait_until_consumed(
            self.settings.kafka_bootstrap,
            group or self.settings.worker_group,
            self.topics,
            timeout=timeout,
        )


def source_counts(pipeline: Pipeline) -> dict[str, int]:
    counts = {
        label: pipeline.sql(f"SELECT count(*) FROM bank.{table}")  # noqa: S608 - fixed names
        for table, label in ENTITY_TABLES.items()
    }
    for rel, (table, condition) in RELATIONSHIP_SOURCES.items():
        counts[rel] = pipeline.sql(f"SELECT count(*) FROM bank.{table} WHERE {condition}")  # noqa: S608
    counts["REPORTS"] = pipeline.sql(REPORTS_SQL)
    return counts


def graph_counts(pipeline: Pipeline) -> dict[str, int]:
    counts = {
        label: pipeline.scalar(f"MATCH (n:{label}) WHERE n._lsn IS NOT NULL RETURN count(n)")
        for label in ENTITY_TABLES.values()
    }
    for rel in [*RELATIONSHIP_SOURCES, "REPORTS"]:
        counts[rel] = pipeline.scalar(f"MATCH ()-[r:{rel}]->() RETURN count(r)")
    return counts


@pytest.fixture(scope="module")
def pipeline(
    settings: Settings, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    labels = tmp_path_factory.mktemp("bank") / "labels.jsonl"
    loaded = run_cli(
        "simulate",
        "--bulk",
        "--reset",
        "--customers",
        "120",
        "--days",
        "2",
        "--seed",
        "11",
        "--labels",
        str(labels),
        settings=settings,
    )
    assert loaded.returncode == 0, loaded.stderr
    with captured_bank(settings, stack, "gp") as result:
        yield result


@contextmanager
def captured_bank(settings: Settings, stack: Stack, prefix: str) -> Iterator[Pipeline]:
    """The bank schema as it is now, captured by a private connector into an emptied
    graph by a private worker; yields once the graph holds what the source implies."""
    local = private_run(settings, prefix)
    topics = cdc_topics(local, default_mapping())
    # Created up front so the worker subscribes to topics that exist from the start.
    ensure_topics(local.kafka_bootstrap, topics)
    auth = (local.neo4j_user, local.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(local.neo4j_uri, auth=auth) as driver:
        clear_graph(driver)
        with temporary_connector(local, stack, local.topic_prefix):
            worker = WorkerProcess(local)
            worker.start()
            result = Pipeline(local, topics, driver, worker, local.pg_dsn.get_secret_value())
            try:
                expected = source_counts(result)
                wait_for(
                    lambda: graph_counts(result) == expected,
                    what="graph to match the simulated bank",
                    timeout=240,
                    interval=1,
                    abort=worker.exit_reason,
                )
                yield result
            finally:
                worker.kill()


def test_graph_counts_equal_what_the_source_rows_imply(pipeline: Pipeline) -> None:
    assert graph_counts(pipeline) == source_counts(pipeline)
    # Every referenced entity arrived as its own row: no stub is left without one.
    stubs = pipeline.scalar(
        "MATCH (n) WHERE (n:Customer OR n:Account OR n:Card OR n:Merchant OR n:Transaction)"
        " AND n._lsn IS NULL RETURN count(n)"
    )
    assert stubs == 0


def test_sampled_properties_equal_their_rows(pipeline: Pipeline) -> None:
    with psycopg.connect(pipeline.dsn) as connection:
        rows = connection.execute(
            "SELECT txn_id, amount, status, channel, currency, created_at"
            " FROM bank.transactions ORDER BY random() LIMIT 25"
        ).fetchall()
    assert rows
    for txn_id, amount, status, channel, currency, created_at in rows:
        (node,) = pipeline.query(
            "MATCH (t:Transaction {txn_id: $id}) RETURN t {.*} AS t", id=txn_id
        )
        t = node["t"]
        assert t["amount"] == pytest.approx(float(amount))
        assert (t["status"], t["channel"], t["currency"]) == (status, channel, currency)
        assert t["created_at"] == int(created_at.timestamp() * 1000)


def _source_tables(pipeline: Pipeline) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(pipeline.dsn, row_factory=dict_row) as connection:
        return {
            table: connection.execute(f"SELECT * FROM bank.{table}").fetchall()  # noqa: S608
            for table in BANK_TABLES
        }


def test_detection_history_read_from_the_graph_equals_the_source_rows(
    pipeline: Pipeline,
) -> None:
    """Detectors read Neo4j in the worker and memory offline: both must answer alike."""
    mapping = default_mapping()
    builder = RecordBuilder(mapping, PiiHasher(pipeline.settings.pii_key.get_secret_value()))
    tables = _source_tables(pipeline)
    memory = MemoryHistory.from_tables(builder, tables)
    graph = GraphHistory(pipeline.driver)
    accounts = [row["account_id"] for row in tables["accounts"]]
    customers = [row["customer_id"] for row in tables["customers"]]
    cards = [row["card_id"] for row in tables["cards"]]
    devices = [row["device_id"] for row in tables["devices"]]
    ever = (0, 2**62)

    def same(left: Any, right: Any) -> None:
        def norm(answer: Any) -> Any:
            if isinstance(answer, dict):
                return {
                    k: sorted(v, key=repr) if isinstance(v, list) else v
                    for k, v in answer.items()
                    if v
                }
            return sorted(answer, key=repr)

        assert norm(dict(left) if not isinstance(left, list) else left) == norm(
            dict(right) if not isinstance(right, list) else right
        )

    same(graph.accounts(accounts), memory.accounts(accounts))
    same(graph.customers(customers), memory.customers(customers))
    same(graph.accounts_of(customers), memory.accounts_of(customers))
    same(graph.sent(accounts, *ever), memory.sent(accounts, *ever))
    same(graph.received(accounts, *ever), memory.received(accounts, *ever))
    same(graph.card_txns(cards, *ever), memory.card_txns(cards, *ever))
    same(graph.device_txns(devices, *ever), memory.device_txns(devices, *ever))
    same(graph.logins(customers, *ever), memory.logins(customers, *ever))
    same(graph.reports(customers, accounts), memory.reports(customers, accounts))
    identities = {i for c in memory.customers(customers).values() for i in c.identities}
    same(graph.customers_sharing(identities), memory.customers_sharing(identities))
    # A window is a window: a narrow one answers a subset, the same on both sides.
    some = accounts[:20]
    middle = sorted(t.at for ts in memory.sent(some, *ever).values() for t in ts)
    if middle:
        lo, hi = middle[len(middle) // 4], middle[3 * len(middle) // 4]
        same(graph.sent(some, lo, hi), memory.sent(some, lo, hi))
    assert sum(len(v) for v in memory.sent(accounts, *ever).values()) == len(tables["transactions"])


def test_no_raw_pii_reaches_the_graph(pipeline: Pipeline) -> None:
    with psycopg.connect(pipeline.dsn) as connection:
        secrets = {
            value
            for row in connection.execute(
                "SELECT full_name, email, phone, national_id, address_line FROM bank.customers"
            )
            for value in row
            if value
        }
        secrets |= {
            value
            for row in connection.execute(
                "SELECT pan_token, iban FROM bank.cards JOIN bank.accounts USING (account_id)"
            )
            for value in row
        }
    stored = pipeline.query(
        "MATCH (n) UNWIND keys(n) AS k WITH n[k] AS v WHERE v IS :: STRING RETURN DISTINCT v"
    ) + pipeline.query(
        "MATCH ()-[r]->() UNWIND keys(r) AS k WITH r[k] AS v WHERE v IS :: STRING RETURN DISTINCT v"
    )
    values = {row["v"] for row in stored}
    assert secrets, "the simulated bank has customers"
    leaked = {value for value in values for secret in secrets if secret in value}
    assert not leaked


def test_updates_and_deletes_propagate(pipeline: Pipeline) -> None:
    txn_id = pipeline.sql("SELECT min(txn_id) FROM bank.transactions")
    pipeline.sql(
        "UPDATE bank.transactions SET status = 'reversed', updated_at = now()"
        " WHERE txn_id = %s RETURNING txn_id",
        (txn_id,),
    )
    login_id = pipeline.sql("SELECT max(login_id) FROM bank.logins")
    pipeline.sql("DELETE FROM bank.logins WHERE login_id = %s RETURNING login_id", (login_id,))
    wait_for(
        lambda: (
            pipeline.scalar("MATCH (t:Transaction {txn_id: $id}) RETURN t.status", id=txn_id)
            == "reversed"
            and pipeline.scalar(
                "MATCH ()-[r:LOGGED_IN_FROM {login_id: $id}]->() RETURN count(r)", id=login_id
            )
            == 0
        ),
        what="update and delete in the graph",
        timeout=60,
    )


def test_a_customers_change_times_survive_a_later_change(pipeline: Pipeline) -> None:
    """Two contact changes minutes apart: `updated_at` holds the second, the node's
    `change_times` both (account takeover judges each, whatever order logins arrive in)."""
    customer_id = random.randint(3 * 10**12, 4 * 10**12)
    pipeline.sql(
        "INSERT INTO bank.customers (customer_id, full_name, email, country)"
        " VALUES (%s, 'X', %s, 'GB') RETURNING customer_id",
        (customer_id, f"start-{customer_id}@example.org"),
    )
    times = []
    for minutes, email in ((3, "first"), (9, "second")):
        changed = pipeline.sql(
            "UPDATE bank.customers SET email = %s, updated_at = now() + make_interval(mins => %s)"
            " WHERE customer_id = %s RETURNING updated_at",
            (f"{email}-{customer_id}@example.org", minutes, customer_id),
        )
        times.append(graph_value(changed))

    def held() -> list[int]:
        found = pipeline.scalar(
            "MATCH (c:Customer {customer_id: $id}) RETURN c.change_times", id=customer_id
        )
        return list(found or [])

    wait_for(lambda: set(times) <= set(held()), what="both change times on the node", timeout=60)
    assert held() == sorted(held(), reverse=True)  # newest first
    assert len(held()) == 3  # the insert's, then both changes
    assert pipeline.scalar(
        "MATCH (c:Customer {customer_id: $id}) RETURN c.updated_at", id=customer_id
    ) == max(times)
    # Leave the bank as the other tests expect it: the customer erased again.
    pipeline.sql("DELETE FROM bank.customers WHERE customer_id = %s RETURNING 1", (customer_id,))
    pipeline.wait_nodes("Customer", "customer_id", customer_id, 0, what="the customer erased")


def test_customer_erasure_removes_identities_nobody_else_shares(pipeline: Pipeline) -> None:
    base = random.randint(10**12, 2 * 10**12)
    shared_phone = f"+44 20 {base % 10**8}"
    for offset, email in ((0, f"erase-{base}@example.org"), (1, f"keep-{base}@example.org")):
        pipeline.sql(
            "INSERT INTO bank.customers (customer_id, full_name, email, phone, national_id,"
            " address_line, postal_code, country) VALUES (%s, 'X', %s, %s, %s, %s, 'N1', 'GB')"
            " RETURNING customer_id",
            (base + offset, email, shared_phone, f"NI{base + offset}", f"{base + offset} Road"),
        )
    hasher = PiiHasher(pipeline.settings.pii_key.get_secret_value())
    email_hash = hasher.digest("email", [f"erase-{base}@example.org"])
    phone_hash = hasher.digest("phone", [shared_phone])

    def linked(label: str, digest: str | None) -> int:
        return int(
            pipeline.scalar(
                f"MATCH (:Customer)-->(p:{label} {{hash: $h}}) RETURN count(p)", h=digest
            )
        )

    wait_for(lambda: linked("Phone", phone_hash) == 2, what="both customers", timeout=60)
    pipeline.sql("DELETE FROM bank.customers WHERE customer_id = %s RETURNING 1", (base,))
    pipeline.wait_nodes("Customer", "customer_id", base, 0, what="customer erased")
    assert pipeline.scalar("MATCH (e:Email {hash: $h}) RETURN count(e)", h=email_hash) == 0
    assert linked("Phone", phone_hash) == 1  # still the other customer's phone


def _produce(
    pipeline: Pipeline, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> None:
    producer = Producer({"bootstrap.servers": pipeline.settings.kafka_bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def test_an_update_delivered_out_of_order_does_not_win(pipeline: Pipeline) -> None:
    customer_id = pipeline.sql("SELECT min(customer_id) FROM bank.customers")
    (node,) = pipeline.query(
        "MATCH (c:Customer {customer_id: $id}) RETURN c.country AS country, c._lsn AS lsn",
        id=customer_id,
    )
    stale = {
        "before": None,
        "after": {"customer_id": customer_id, "full_name": "Stale", "country": "ZZ"},
        "source": {"table": "customers", "lsn": node["lsn"] - 1, "ts_ms": 0},
        "op": "u",
    }
    topic = f"{pipeline.settings.topic_prefix}.bank.customers"
    _produce(pipeline, topic, [(orjson.dumps({"customer_id": customer_id}), orjson.dumps(stale))])
    pipeline.consumed()
    assert pipeline.query(
        "MATCH (c:Customer {customer_id: $id}) RETURN c.country AS country, c._lsn AS lsn",
        id=customer_id,
    ) == [node]


def test_poison_events_are_dead_lettered_and_the_stream_goes_on(pipeline: Pipeline) -> None:
    topic = f"{pipeline.settings.topic_prefix}.bank.transactions"
    envelope = {
        "before": None,
        "source": {"table": "transactions", "lsn": 1, "ts_ms": 0},
        "op": "c",
    }
    poison = [
        (b'{"txn_id": 1}', b"{not json"),
        (
            b'{"txn_id": 2}',
            orjson.dumps(
                {**envelope, "source": {**envelope["source"], "table": "nope"}, "after": {}}
            ),
        ),
        (b'{"txn_id": 3}', orjson.dumps({**envelope, "after": {"txn_id": 3, "amount": 12.5}})),
        (b'{"txn_id": 4}', orjson.dumps({**envelope, "after": {"txn_id": None}})),
        (
            b'{"txn_id": 5}',
            orjson.dumps({**envelope, "after": {"txn_id": "}) DETACH DELETE n //"}}),
        ),
    ]
    _produce(pipeline, topic, poison)
    merchant_id = random.randint(10**12, 2 * 10**12)
    pipeline.sql(
        "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
        " VALUES (%s, 'After poison', '5999', 'GB') RETURNING 1",
        (merchant_id,),
    )
    pipeline.wait_nodes(
        "Merchant", "merchant_id", merchant_id, 1, what="a good event after the poison"
    )
    letters = _read_all(pipeline, pipeline.settings.deadletter_topic, expected=len(poison))
    reasons = sorted(dict(letter["headers"])["dlq.reason"].decode() for letter in letters)
    assert reasons == sorted(
        ["malformed_json", "unknown_table", "type_drift", "missing_key", "type_drift"]
    )
    assert {letter["value"] for letter in letters} == {value for _, value in poison}
    for letter in letters:
        headers = dict(letter["headers"])
        assert headers["dlq.topic"].decode() == topic
        assert int(headers["dlq.offset"]) >= 0
    assert pipeline.scalar("MATCH (n) RETURN count(n) > 0")  # the injection did nothing


def _read_all(pipeline: Pipeline, topic: str, expected: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": pipeline.settings.kafka_bootstrap, "group.id": f"read-{uuid.uuid4()}"}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    letters: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                letters.append({"value": message.value(), "headers": message.headers() or []})
    finally:
        consumer.close()
    assert len(letters) == expected, letters
    return letters


def test_replaying_every_topic_from_offset_zero_leaves_the_graph_identical(
    pipeline: Pipeline,
) -> None:
    pipeline.consumed()
    before = graph_checksum(pipeline.driver)
    group = f"replay-{uuid.uuid4().hex[:8]}"
    replay = WorkerProcess(pipeline.settings, FRAUDGRAPH_WORKER_GROUP=group)
    replay.start()
    try:
        pipeline.consumed(group=group)
    finally:
        replay.kill()
    assert graph_checksum(pipeline.driver) == before


def test_kill_9_during_a_live_load_ends_identical_to_an_uninterrupted_run(
    pipeline: Pipeline,
) -> None:
    load = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudgraph",
            "simulate",
            "--live",
            "--rate",
            "150",
            "--duration",
            "20",
            "--seed",
            "11",
            "--customers",
            "120",
        ],
        env={**os.environ, **pipeline.settings.as_environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    chaos = random.Random(7)
    kills = 0
    while load.poll() is None:
        time.sleep(chaos.uniform(2, 5))  # chaos timing, not a wait for a condition
        pipeline.worker.kill()
        kills += 1
        pipeline.worker.start()
    _, errors = load.communicate()  # also closes the pipe
    assert load.returncode == 0, errors.decode(errors="replace")
    # Change capture may still be catching up with the last commits: wait for the
    # graph to match the source, then for the group to have committed all it read.
    expected = source_counts(pipeline)
    wait_for(lambda: graph_counts(pipeline) == expected, what="graph = source", timeout=240)
    pipeline.consumed(timeout=240)
    interrupted = canonical_lines(pipeline.driver)

    clear_graph(pipeline.driver)
    group = f"clean-{uuid.uuid4().hex[:8]}"
    clean = WorkerProcess(pipeline.settings, FRAUDGRAPH_WORKER_GROUP=group)
    pipeline.worker.kill()  # the clean run writes alone
    clean.start()
    try:
        pipeline.consumed(group=group, timeout=240)
    finally:
        clean.kill()
    assert kills >= 3
    rebuilt = canonical_lines(pipeline.driver)
    only_interrupted = sorted(set(interrupted) - set(rebuilt))[:5]
    only_rebuilt = sorted(set(rebuilt) - set(interrupted))[:5]
    assert rebuilt == interrupted, (only_interrupted, only_rebuilt)


def _login_change(login_id: int, customer_id: int, ip: str, lsn: int, op: str) -> RowChange:
    row = {
        "login_id": login_id,
        "customer_id": customer_id,
        "device_id": customer_id,
        "ip_address": ip,
        "success": True,
        "occurred_at": datetime(2026, 3, 2, tzinfo=UTC),
    }
    return RowChange(
        table="logins",
        op=op,  # type: ignore[arg-type]
        key={"login_id": login_id},
        row=None if op == "d" else row,
        lsn=lsn,
        committed_at_ms=0,
        position=Position("test", 0, lsn),
    )


def _left_by_login(pipeline: Pipeline, customer_id: int, ip: str) -> list[str]:
    records = pipeline.query(
        "MATCH (n) WHERE (n:Customer AND n.customer_id = $id) OR (n:Device AND n.device_id = $id)"
        " OR (n:IP AND n.address = $ip) RETURN labels(n)[0] AS label ORDER BY label",
        id=customer_id,
        ip=ip,
    )
    return [record["label"] for record in records]


def test_a_login_erased_in_a_later_batch_leaves_no_stub_as_in_one_batch(
    pipeline: Pipeline,
) -> None:
    """A login inserted and erased leaves the same graph whether one batch held both
    changes (only the delete is written) or two did (the insert made stubs of its
    customer, device and IP, which the delete must then remove)."""
    writer = graph_writer(pipeline.settings, pipeline.driver)
    base = 9_700_000 + uuid.uuid4().int % 100_000
    graphs = []
    for batches in ([["c", "d"]], [["c"], ["d"]]):
        base += 1
        ip = f"198.18.{base % 250}.{base // 250 % 250}"
        for n, batch in enumerate(batches):
            writer.apply(
                [
                    _login_change(base, base, ip, lsn=10 + i + 10 * n, op=op)
                    for i, op in enumerate(batch)
                ]
            )
        graphs.append(_left_by_login(pipeline, base, ip))
    assert graphs == [[], []]
    # A stub something else still links stays: the IP of another login.
    base += 1
    ip = f"198.18.{base % 250}.{base // 250 % 250}"
    writer.apply(
        [_login_change(base, base, ip, 10, "c"), _login_change(base + 1, base + 1, ip, 11, "c")]
    )
    writer.apply([_login_change(base, base, ip, 12, "d")])
    assert _left_by_login(pipeline, base + 1, ip) == ["Customer", "Device", "IP"]
    assert _left_by_login(pipeline, base, "-") == []
