"""What the pipeline benches share: the `fraudgraph` command, offsets and lag of a group."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stream.topics import cdc_topics, ensure_topics


class PipelineBenchError(FraudgraphError):
    pass


def fraudgraph_command() -> str:
    return str(Path(sys.executable).parent / "fraudgraph")


def end_offsets(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    ends = []
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            continue
        for partition in metadata.partitions:
            ends.append(
                TopicPartition(topic, partition, high_watermark(consumer, topic, partition))
            )
    return ends


def high_watermark(consumer: Consumer, topic: str, partition: int) -> int:
    """The partition's end offset; a topic created moments ago may not have a leader yet."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1])
        except KafkaException as error:
            if time.monotonic() > deadline:
                raise PipelineBenchError(
                    f"no end offset for {topic}/{partition}: {error}"
                ) from error
            time.sleep(0.5)  # retrying a broker still electing the partition's leader


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        ends = end_offsets(consumer, topics)
        committed = consumer.committed([TopicPartition(t.topic, t.partition) for t in ends], 10)
        done = {(c.topic, c.partition): max(c.offset, 0) for c in committed}
        return sum(t.offset - done[(t.topic, t.partition)] for t in ends)
    finally:
        consumer.close()


def start_group_at(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    """Commit `offsets` for a new group, so its worker reads from there on."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def run_fraudgraph(args: list[str], env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(  # noqa: PLW1510 - checked below with the output
        [fraudgraph_command(), *args], env=env, capture_output=True, timeout=timeout
    )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise PipelineBenchError(f"fraudgraph {args[0]} failed: {' / '.join(tail)}")


def start_fresh_worker(
    bootstrap: str, run: str, offsets: list[TopicPartition], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """A worker of group `<run>-worker` that reads from `offsets` on, logging to `log`.

    The shared graph is cleared by the caller first: the worker builds it anew.
    """
    start_group_at(bootstrap, f"{run}-worker", offsets)
    return start_worker(env, log)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A worker of the environment's group (joining the ones running), logging to `log`."""
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [fraudgraph_command(), "worker", "--log-level", "WARNING"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def free_port() -> int:
    """A loopback port free now, for a child process to bind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def private_run_env(settings: Settings, run: str, **extra: str) -> dict[str, str]:
    """A child's environment with the run's own worker group and alert/dead-letter topics."""
    return {
        **os.environ,
        **settings.as_environment(),
        "FRAUDGRAPH_WORKER_GROUP": f"{run}-worker",
        "FRAUDGRAPH_ALERTS_TOPIC": f"{run}.alerts",
        "FRAUDGRAPH_ALERTS_SHADOW_TOPIC": f"{run}.alerts-shadow",
        "FRAUDGRAPH_DEADLETTER_TOPIC": f"{run}.deadletter",
        "FRAUDGRAPH_METRICS_PORT": "0",
        **extra,
    }


def cdc_ends_before_load(settings: Settings, run: str) -> tuple[list[str], list[TopicPartition]]:
    """The CDC topics (created if missing) and their end offsets now, before a bulk load."""
    topics = cdc_topics(settings, default_mapping())
    ensure_topics(settings.kafka_bootstrap, topics)
    probe = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{run}-probe"})
    try:
        return topics, end_offsets(probe, topics)
    finally:
        probe.close()
