"""`fraudgraph demo`: show a committed change travelling through the stack."""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import orjson
import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.table import Column, Table

from fraudgraph.connectors.progress import Phase, capture_phase
from fraudgraph.connectors.rest import ConnectClient
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
from fraudgraph.extras import require
from fraudgraph.settings import Settings
from fraudgraph.tables import Fitting, compact_table

DEMO_TABLES = ("customers", "accounts", "transactions")
# A first change slower than this waited behind the snapshot or a backlog: say so.
QUEUED_AFTER_S = 1.0


def run_demo(settings: Settings, console: Console) -> None:
    """A small bank, its change events, and the graph they build."""
    require("faker", extra="simulator")  # the demo simulates its bank
    steps: list[tuple[str, Callable[[], None]]] = [
        ("the bank", lambda: ensure_bank(settings, console)),
        ("the stream worker", lambda: ensure_worker(settings, console)),
        ("change events", lambda: show_change_events(settings, console)),
        ("the graph", lambda: wait_for_graph(settings, console)),
        (
            "live alerts",
            lambda: show_live_alerts(settings, console, customers=DEMO_CUSTOMERS, days=DEMO_DAYS),
        ),
        ("where to look", lambda: show_where_to_look(settings, console)),
    ]
    timings: list[tuple[str, float]] = []
    for title, step in steps:
        console.rule(title, align="left")
        started = time.monotonic()
        step()
        timings.append((title, time.monotonic() - started))
    console.print(step_times_table(timings))


def step_times_table(timings: Sequence[tuple[str, float]]) -> Table:
    """Where the demo's time went: each step a user waited through, and the total."""
    table = Table("step", Column("seconds", justify="right"), title="the demo's steps")
    for title, seconds in timings:
        table.add_row(title, f"{seconds:.1f}")
    table.add_row("total", f"{sum(seconds for _, seconds in timings):.1f}", style="bold")
    return table


def show_change_events(
    settings: Settings, console: Console, timeout: float = 60.0, backlog_timeout: float = 900.0
) -> None:
    """Commit a customer and wait for its change event, which may queue behind Debezium's
    initial snapshot or earlier changes; then an account, a payment and its reversal,
    whose events show the usual delay."""
    base = random.randint(10**9, 2 * 10**9)  # noqa: S311 - a demo row id, not a secret
    topics = [f"{settings.topic_prefix}.bank.{table}" for table in DEMO_TABLES]
    console.print(_what_comes_first(settings))
    watcher = _ChangeWatcher(settings, topics)
    watcher.mark()
    with contextlib.closing(watcher.arrivals(base, backlog_timeout + timeout)) as arrivals:
        committed = _commit(
            settings,
            (
                "INSERT INTO bank.customers (customer_id, full_name, email, country)"
                " VALUES (%s, 'Demo Customer', 'demo@example.org', 'GB')",
                (base,),
            ),
        )
        with console.status(f"committed customer {base}; waiting for its change event…"):
            first = next(arrivals)
        waited = first.at - committed
        if waited > QUEUED_AFTER_S:
            console.print(
                f"customer {base}: its change arrived after {waited:.1f} s, "
                "queued behind what Debezium had to send first"
            )
        else:
            console.print(f"customer {base}: its change arrived after {waited * 1000:.0f} ms")
        _commit(
            settings,
            (
                "INSERT INTO bank.accounts (account_id, customer_id, iban, kind, currency)"
                " VALUES (%s, %s, %s, 'checking', 'GBP')",
                (base, base, f"GB00DEMO{base}"),
            ),
            (
                "INSERT INTO bank.transactions (txn_id, account_id, counterparty_iban, channel,"
                " amount, currency) VALUES (%s, %s, 'DE00DEMO', 'transfer', 250.00, 'GBP')",
                (base, base),
            ),
        )
        committed = _commit(
            settings,
            (
                "UPDATE bank.transactions SET status = 'reversed', updated_at = now()"
                " WHERE txn_id = %s",
                (base,),
            ),
        )
        console.print(f"committed account/transaction {base} and a reversal; waiting for CDC…")
        events = [next(arrivals) for _ in range(3)]  # two inserts and the update
    console.print(change_events_table(events, committed))


def _what_comes_first(settings: Settings) -> str:
    """Why the first change may take seconds, from where the connector is."""
    state = capture_phase(ConnectClient(settings.connect_url), settings.topic_prefix)
    if state is None:
        raise FraudgraphError(
            f"no connector on Kafka Connect writes {settings.topic_prefix}.* topics:"
            " run `fraudgraph connectors apply`"
        )
    ahead = {
        Phase.STARTING: "Debezium has stored no position yet (its initial snapshot is"
        " starting, or nothing was captured since): every row that existed when the"
        " connector was created is sent (op r) before any later change",
        Phase.SNAPSHOT: "Debezium is still taking its initial snapshot: every row that existed"
        " when the connector was created is sent (op r) before any later change",
        Phase.STREAMING: "Debezium is streaming changes in commit order: rows committed"
        " just before (a bank loaded a moment ago) are sent first",
    }[state]
    return (
        f"{ahead}. The customer is committed alone and waits for that; the account,"
        " payment and reversal after it show the usual delay (about 100 ms)."
    )


def _commit(settings: Settings, *statements: tuple[str, tuple[object, ...]]) -> float:
    """Run `statements` in one transaction; returns when it committed (time.monotonic())."""
    try:
        dsn = settings.pg_dsn.get_secret_value()
        with psycopg.connect(dsn, autocommit=True) as connection, connection.transaction():
            for statement, params in statements:
                connection.execute(statement, params)
    except psycopg.OperationalError as error:
        raise FraudgraphError(f"cannot reach PostgreSQL: {str(error).strip()}") from error
    return time.monotonic()


def change_events_table(arrivals: Sequence[Arrival], committed: float) -> Fitting:
    """Each change event: when it arrived, where, what happened to which row.

    In 80 columns the partition@offset column shares the topic's cell and the key
    and row are JSON with spaces, so they wrap between fields rather than being cut.
    """
    full = Table("arrived after", "topic", "partition@offset", "op", "key", "after")
    compact = compact_table(
        "arrived\nafter",
        Column("topic\npartition@offset", no_wrap=True),  # a topic is a name: kept whole
        "op",
        # `{"customer_id":` over its value: wider would only narrow the row's fields.
        Column("key", overflow="fold", max_width=16),
        Column("after", overflow="fold"),
    )
    for arrival in arrivals:
        after = arrival.event.get("after") or {}
        assert isinstance(after, dict)
        shown = {k: after[k] for k in ("status", "amount", "kind", "country") if k in after}
        waited = f"{(arrival.at - committed) * 1000:.0f} ms"
        op = str(arrival.event["op"])
        full.add_row(
            waited,
            arrival.topic,
            f"{arrival.partition}@{arrival.offset}",
            op,
            orjson.dumps(arrival.key).decode(),
            orjson.dumps(shown).decode(),
        )
        compact.add_row(
            waited,
            f"{arrival.topic}\n{arrival.partition}@{arrival.offset}",
            op,
            json.dumps(arrival.key),
            json.dumps(shown),
        )
    return Fitting(full, compact)


@dataclass(frozen=True)
class Arrival:
    """A change event for the demo's row, and when (time.monotonic()) it arrived."""

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

    def arrivals(self, row_id: int, timeout: float) -> Generator[Arrival, None, None]:
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
                    yield Arrival(
                        time.monotonic(), topic, partition, offset, key, orjson.loads(value)
                    )
        finally:
            self.consumer.close()
        raise FraudgraphError(
            f"change events did not arrive within {timeout:.0f}s: is the connector RUNNING?"
        )


class _NoTopic:
    partitions: dict[int, object] = {}  # noqa: RUF012 - read-only stand-in
