"""`fraudgraph demo`: show a committed change travelling through the stack."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Table

from fraudgraph.demo_alerts import show_live_alerts
from fraudgraph.demo_graph import (
    DEMO_CUSTOMERS,
    DEMO_DAYS,
    ensure_bank,
    ensure_worker,
    show_where_to_look,
    wait_for_graph,
)
from fraudgraph.errors import FraudgraphError
from fraudgraph.settings import Settings

DEMO_TABLES = ("customers", "accounts", "transactions")


def run_demo(settings: Settings, console: Console) -> None:
    """A small bank, its change events, and the graph they build."""
    ensure_bank(settings, console)
    ensure_worker(settings, console)
    show_change_events(settings, console)
    wait_for_graph(settings, console)
    show_live_alerts(settings, console, customers=DEMO_CUSTOMERS, days=DEMO_DAYS)
    show_where_to_look(settings, console)


def show_change_events(settings: Settings, console: Console, timeout: float = 60.0) -> None:
    """Write a customer, an account and a payment; print their change events as they arrive."""
    base = random.randint(10**9, 2 * 10**9)  # noqa: S311 - a demo row id, not a secret
    topics = [f"{settings.topic_prefix}.bank.{table}" for table in DEMO_TABLES]
    watcher = _ChangeWatcher(settings, topics)
    watcher.mark()
    try:
        with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as connection:
            with connection.transaction():
                connection.execute(
                    "INSERT INTO bank.customers (customer_id, full_name, email, country)"
                    " VALUES (%s, 'Demo Customer', 'demo@example.org', 'GB')",
                    (base,),
                )
                connection.execute(
                    "INSERT INTO bank.accounts (account_id, customer_id, iban, kind, currency)"
                    " VALUES (%s, %s, %s, 'checking', 'GBP')",
                    (base, base, f"GB00DEMO{base}"),
                )
                connection.execute(
                    "INSERT INTO bank.transactions (txn_id, account_id, counterparty_iban, channel,"
                    " amount, currency) VALUES (%s, %s, 'DE00DEMO', 'transfer', 250.00, 'GBP')",
                    (base, base),
                )
            connection.execute(
                "UPDATE bank.transactions SET status = 'reversed', updated_at = now()"
                " WHERE txn_id = %s",
                (base,),
            )
    except psycopg.OperationalError as error:
        raise FraudgraphError(f"cannot reach PostgreSQL: {str(error).strip()}") from error
    committed = time.monotonic()
    console.print(f"committed customer/account/transaction {base} and a reversal; waiting for CDC…")

    table = Table("arrived after", "topic", "partition@offset", "op", "key", "after")
    wanted = 4
    for arrival in watcher.arrivals(base, timeout):
        after = arrival.event.get("after") or {}
        assert isinstance(after, dict)
        shown = {k: after[k] for k in ("status", "amount", "kind", "country") if k in after}
        table.add_row(
            f"{(arrival.at - committed) * 1000:.0f} ms",
            arrival.topic,
            f"{arrival.partition}@{arrival.offset}",
            str(arrival.event["op"]),
            orjson.dumps(arrival.key).decode(),
            orjson.dumps(shown).decode(),
        )
        wanted -= 1
        if wanted == 0:
            break
    console.print(table)


@dataclass(frozen=True)
class _Arrival:
    at: float
    topic: str
    partition: int
    offset: int
    key: dict[str, object]
    event: dict[str, object]


class _ChangeWatcher:
    """Reads only what is written after it starts: end offsets are taken first."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.topics = topics
        self.admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": "fraudgraph-demo",
                "enable.auto.commit": False,
            }
        )
        self.assigned: set[str] = set()
        self.start_offsets: dict[tuple[str, int], int] = {}

    def mark(self) -> None:
        existing = self.admin.list_topics(timeout=10).topics
        for topic in self.topics:
            for partition in existing.get(topic, _NoTopic()).partitions:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                self.start_offsets[(topic, partition)] = high

    def _assign_new_topics(self) -> None:
        existing = self.admin.list_topics(timeout=10).topics
        for topic in self.topics:
            if topic in self.assigned or topic not in existing:
                continue
            partitions = existing[topic].partitions
            self.consumer.incremental_assign(
                [
                    TopicPartition(topic, p, self.start_offsets.get((topic, p), 0))
                    for p in partitions
                ]
            )
            self.assigned.add(topic)

    def arrivals(self, row_id: int, timeout: float) -> Iterator[_Arrival]:
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if len(self.assigned) < len(self.topics):
                    self._assign_new_topics()
                message = self.consumer.poll(0.5)
                if message is None or message.error():
                    continue
                value, topic = message.value(), message.topic()
                partition, offset = message.partition(), message.offset()
                if not value or topic is None or partition is None or offset is None:
                    continue  # tombstones and (never seen) partial records
                key = orjson.loads(message.key() or b"{}")
                if row_id in key.values():
                    yield _Arrival(
                        time.monotonic(), topic, partition, offset, key, orjson.loads(value)
                    )
        finally:
            self.consumer.close()
        raise FraudgraphError(
            f"change events did not arrive within {timeout:.0f}s: is the connector RUNNING?"
        )


class _NoTopic:
    partitions: dict[int, object] = {}  # noqa: RUF012 - read-only stand-in
