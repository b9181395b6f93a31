"""Commit → Kafka latency of change capture: one committed insert at a time."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import orjson
import psycopg
from confluent_kafka import Consumer, TopicPartition
from rich.progress import track

from fraudgraph.errors import FraudgraphError
from fraudgraph.settings import Settings
from fraudgraph.stack.waiting import wait_for

BENCH_ID_BASE = 8 * 10**15  # far above any simulated id
INSERT = (
    "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
    " VALUES (%s, 'bench', '5999', 'GB')"
)


def measure_cdc_latency(settings: Settings, samples: int, timeout: float = 30.0) -> dict[str, Any]:
    topic = f"{settings.topic_prefix}.bank.merchants"
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": "fraudgraph-bench-cdc",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    latencies_ms: list[float] = []
    first_id = BENCH_ID_BASE + random.randrange(10**12)  # noqa: S311 - not a secret
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as connection:
        # The topic exists once one merchant was ever captured; make sure of it first.
        connection.execute(INSERT, (first_id,))
        metadata = wait_for(
            lambda: consumer.list_topics(topic, timeout=5).topics.get(topic),
            what=f"topic {topic}",
            timeout=timeout,
        )
        partitions = []
        for partition in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            partitions.append(TopicPartition(topic, partition, high))
        consumer.assign(partitions)
        for index in track(range(1, samples + 1), description="commit → Kafka"):
            row_id = first_id + index
            connection.execute(INSERT, (row_id,))
            committed = time.perf_counter()
            latencies_ms.append((_await_key(consumer, row_id, timeout) - committed) * 1000)
        connection.execute(
            "DELETE FROM bank.merchants WHERE merchant_id BETWEEN %s AND %s",
            (first_id, first_id + samples),
        )
    consumer.close()
    ordered = sorted(latencies_ms)
    return {
        "samples": samples,
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


def _await_key(consumer: Consumer, row_id: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.05)
        key = message.key() if message is not None and not message.error() else None
        if key and orjson.loads(key).get("merchant_id") == row_id:
            return time.perf_counter()
    raise FraudgraphError(f"insert {row_id} did not reach Kafka within {timeout:.0f}s")
