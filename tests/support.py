"""Helpers for integration tests: reading topics and running the CLI, with deadlines."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from psycopg import sql

from fraudgraph.connectors.apply import apply_connector
from fraudgraph.connectors.definitions import ConnectorDefinition, load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.services.postgres import PostgresService
from fraudgraph.stack.waiting import wait_for


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any  # None for a tombstone


def wait_for_topic(bootstrap: str, topic: str, timeout: float = 60) -> int:
    """Wait until `topic` exists; returns its partition count."""
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def partitions() -> int | None:
        metadata = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return None
        return len(metadata.partitions) or None

    return wait_for(partitions, what=f"topic {topic}", timeout=timeout)


def _key(raw: bytes | None) -> Any:
    """CDC keys are JSON; alert keys are the plain alert_id."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode()


def collect(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    *,
    timeout: float = 60,
    start: dict[tuple[str, int], int] | None = None,
) -> list[Record]:
    """Read `topic` until `done(records)` holds, or fail at the deadline.

    From the beginning, or from `start` offsets (`end_offsets` taken before a write),
    so a shared topic's history is not read again.
    """
    count = wait_for_topic(bootstrap, topic, timeout)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign(
        [TopicPartition(topic, p, (start or {}).get((topic, p), 0)) for p in range(count)]
    )
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(records):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{topic}: condition not met in {timeout}s; saw {records[-5:]}"
                )
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            raw_key, raw_value = message.key(), message.value()
            records.append(
                Record(
                    topic=topic,
                    partition=message.partition(),
                    offset=message.offset(),
                    key=_key(raw_key),
                    value=orjson.loads(raw_value) if raw_value else None,
                )
            )
    finally:
        consumer.close()
    return records


def run_cli(
    *args: str, settings: Settings | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    if settings is not None:
        environment |= settings.as_environment()
    environment |= env
    return subprocess.run(
        [sys.executable, "-m", "fraudgraph", *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=300,
    )


@contextlib.contextmanager
def temporary_connector(
    settings: Settings, stack: Stack, prefix: str
) -> Iterator[ConnectorDefinition]:
    """The bank connector under its own name, slot and topic prefix; removed afterwards.

    A fresh connector snapshots the current rows (op r) onto fresh topics, so a test
    sees only its own bank, not everything earlier tests and benchmarks wrote.
    """
    definition = run_connector(prefix)
    client = ConnectClient(settings.connect_url)
    with removed_afterwards(settings, stack, definition):
        apply_connector(client, definition)
        yield definition


def run_connector(prefix: str, **config: str) -> ConnectorDefinition:
    """The bank connector under its own name, slot and topic prefix (and `config`)."""
    (bank,) = load_definitions()
    slot = prefix.replace("-", "_")
    return replace(
        bank,
        name=f"test-{prefix}",
        config={**bank.config, "topic.prefix": prefix, "slot.name": slot, **config},
    )


@contextlib.contextmanager
def removed_afterwards(
    settings: Settings, stack: Stack, definition: ConnectorDefinition
) -> Iterator[None]:
    """Delete the connector and its replication slot at the end, however it was created."""
    try:
        yield
    finally:
        ConnectClient(settings.connect_url).delete(definition.name)
        slot = definition.config["slot.name"]
        postgres = stack.service("postgres")
        assert isinstance(postgres, PostgresService)

        def slot_dropped() -> bool:
            # The slot outlives its connector and would pin WAL forever: drop it
            # once Connect has let go of it.
            with postgres.superuser_connection() as admin:
                admin.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                    " WHERE slot_name = %s AND NOT active",
                    (slot,),
                )
                return (
                    admin.execute(
                        "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
                    ).fetchone()
                    is None
                )

        wait_for(slot_dropped, what=f"slot {slot} dropped", timeout=60)


class WorkerProcess:
    """`fraudgraph worker` as a child process, killable at any moment."""

    def __init__(self, settings: Settings, **env: str) -> None:
        self.environment = {**os.environ, **settings.as_environment(), **env}
        self.process: subprocess.Popen[bytes] | None = None
        handle, name = tempfile.mkstemp(prefix="worker-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fraudgraph", "worker", "--log-level", "WARNING"],
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exit_reason(self) -> str | None:
        """None while it runs; else why a wait on it should stop (for wait_for's abort)."""
        if self.process is not None and self.process.poll() is None:
            return None
        return "worker exited:\n" + self.output()[-2000:]


def private_run(settings: Settings, prefix: str, **overrides: Any) -> Settings:
    """Settings naming a run's own topics, consumer group and output topics."""
    run = f"{prefix}{uuid.uuid4().hex[:8]}"
    return settings.model_copy(
        update={
            "topic_prefix": run,
            "worker_group": f"{run}-worker",
            "deadletter_topic": f"{run}.deadletter",
            "alerts_topic": f"{run}.alerts",
            "alerts_shadow_topic": f"{run}.alerts-shadow",
            # Several workers run side by side in a test: each takes a free port.
            "metrics_port": 0,
            **overrides,
        }
    )


def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fraudgraph-test-offsets"})
    try:
        ends = {}
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            for partition in metadata.partitions:
                ends[(topic, partition)] = _high_watermark(consumer, topic, partition)
        return ends
    finally:
        consumer.close()


# What a partition answers while its leader is being elected.
LEADERLESS = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


def _high_watermark(consumer: Consumer, topic: str, partition: int, wait: float = 30) -> int:
    """The partition's end offset, waiting (with a deadline) while the broker answers
    with a retriable error: a topic that listing just created has no leader for a
    moment (NOT_LEADER_FOR_PARTITION), which failed a fresh CI run once."""
    deadline = time.monotonic() + wait
    while True:
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            return int(high)
        except KafkaException as error:
            kafka_error = error.args[0]
            leaderless = kafka_error.code() in LEADERLESS or kafka_error.retriable()
            if not leaderless or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # poll interval of the wait, not a stand-in for it


def wait_until_consumed(
    bootstrap: str, group: str, topics: list[str], timeout: float = 180
) -> None:
    """Wait until `group` has committed every partition of `topics` up to its current end."""
    targets = end_offsets(bootstrap, topics)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:

        def caught_up() -> bool:
            committed = consumer.committed([TopicPartition(t, p) for (t, p) in targets], timeout=10)
            return all(
                tp.offset >= targets[(tp.topic, tp.partition)]
                or targets[(tp.topic, tp.partition)] == 0
                for tp in committed
            )

        wait_for(caught_up, what=f"group {group} caught up", timeout=timeout, interval=0.5)
    finally:
        consumer.close()


def assert_no_text_in_bank(dsn: str, markers: set[str]) -> None:
    """No text column of the bank schema holds any of `markers` (labels stay in files)."""
    patterns = [f"%{marker}%" for marker in sorted(markers)]
    with psycopg.connect(dsn) as conn:
        text_columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'bank' "
            "AND data_type IN ('text', 'character', 'character varying')"
        ).fetchall()
        assert len(text_columns) > 10
        for table, column in text_columns:
            query = sql.SQL("SELECT count(*) FROM {} WHERE {}::text ILIKE ANY(%s)").format(
                sql.Identifier("bank", table), sql.Identifier(column)
            )
            hits = conn.execute(query, (patterns,)).fetchone()
            assert hits == (0,), (table, column)
