"""Helpers for integration tests: reading topics and running the CLI, with deadlines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudgraph.settings import Settings
from stack.waiting import wait_for


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


def collect(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    *,
    timeout: float = 60,
) -> list[Record]:
    """Read `topic` from the beginning until `done(records)` holds, or fail at the deadline."""
    count = wait_for_topic(bootstrap, topic, timeout)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(count)])
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
                    key=orjson.loads(raw_key) if raw_key else None,
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
        environment |= settings_environment(settings)
    environment |= env
    return subprocess.run(
        [sys.executable, "-m", "fraudgraph", *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=300,
    )


def settings_environment(settings: Settings) -> dict[str, str]:
    values = {}
    for name, value in settings:
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        values[f"FRAUDGRAPH_{name.upper()}"] = str(raw)
    return values
