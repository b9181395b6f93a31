"""Webhook delivery against the real Kafka: receiver outage, worker restarts, replay.

Every alert must reach the receiver exactly once per webhook-id with a valid
signature (the receiver records only verified, first-seen deliveries), however
often the worker is stopped, killed or replayed from the beginning.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from fraudgraph.alerts.webhooks.kafka import ensure_topics
from fraudgraph.alerts.webhooks.testing import make_alert, new_secret
from fraudgraph.settings import Settings
from fraudgraph.stack.waiting import wait_for
from tests.support import wait_until_consumed

pytestmark = pytest.mark.integration

SECRET_ENV = "FRAUDGRAPH_TEST_WEBHOOK_SECRET"
TRACEPARENT = "00-{trace}-b7ad6b7169203331-01"
BATCH = 30


class Cli:
    """One `fraudgraph webhooks …` child process with its JSON log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.args = args
        self.env = env
        handle, name = tempfile.mkstemp(prefix=f"{args[0]}-", suffix=".log", dir=logs)
        os.close(handle)
        self.log_path = Path(name)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Cli:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fraudgraph", "webhooks", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def died(self) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            return f"exited {self.process.returncode}: {self.log_path.read_text()[-2000:]}"
        return None

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # librdkafka writes a few plain lines of its own
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def wait_event(self, name: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(
            lambda: next(iter(self.events(name)), None),
            what=f"{name} in {self.log_path}",
            timeout=timeout,
            abort=self.died,
        )

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class Deliverer(Cli):
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        super().__init__(["deliver"], env, logs)
        self.metrics_url = ""

    def start(self) -> Deliverer:
        super().start()
        port = self.wait_event("metrics_listening")["port"]
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        self.wait_event("partitions_assigned")
        return self

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(self.metrics_url, timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0

    def attempts(self, outcome: str) -> float:
        return self.metric("fraudgraph_webhook_attempts_total", endpoint="demo", outcome=outcome)

    def pending(self) -> float:
        return self.metric("fraudgraph_webhook_pending")

    def wait_attempts(self, outcome: str, at_least: int, timeout: float = 45) -> None:
        wait_for(
            lambda: self.attempts(outcome) >= at_least,
            what=f"{at_least} {outcome} outcomes",
            timeout=timeout,
            abort=self.died,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def produce(bootstrap: str, topic: str, alerts: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for alert in alerts:
        trace = uuid.uuid5(uuid.NAMESPACE_OID, alert["alert_id"]).hex
        producer.produce(
            topic,
            key=alert["alert_id"].encode(),
            value=orjson.dumps(alert),
            headers=[("traceparent", TRACEPARENT.format(trace=trace).encode())],
        )
    assert producer.flush(30) == 0


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fraudgraph-test-sizes"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def recorded(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture
def run_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Private topics and group for this test; topics deleted afterwards."""
    run = f"test-wh-{uuid.uuid4().hex[:8]}"
    private = settings.model_copy(
        update={
            "alerts_topic": f"{run}.alerts",
            "webhooks_retry_topic_prefix": f"{run}.retry",
            "webhooks_deadletter_topic": f"{run}.deadletter",
            "webhooks_group": run,
            "webhooks_file": tmp_path / "endpoints.yaml",
            "webhooks_metrics_port": 0,
            "state_dir": tmp_path / "state",
        }
    )
    yield private
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{run}.")]
    for future in admin.delete_topics(mine).values():
        future.result(timeout=30)
    groups = admin.list_consumer_groups(request_timeout=10).result().valid
    ours = [g.group_id for g in groups if g.group_id.startswith(run)]
    for future in admin.delete_consumer_groups(ours, request_timeout=10).values() if ours else []:
        future.result(timeout=30)


def test_outage_restarts_and_replay_deliver_each_alert_once(
    run_settings: Settings, tmp_path: Path
) -> None:
    bootstrap = run_settings.kafka_bootstrap
    port = free_port()
    assert run_settings.webhooks_file is not None
    run_settings.webhooks_file.write_text(
        f"""
endpoints:
  - name: demo
    url: http://127.0.0.1:{port}/hook
    secret_env: {SECRET_ENV}
    kinds: [link, anomaly]
retry:
  schedule_seconds: [1, 2]
  give_up_after_seconds: 3600
"""
    )
    env = {**os.environ, **run_settings.as_environment(), SECRET_ENV: new_secret()}
    out = tmp_path / "received.jsonl"
    args = ["receive", "--port", str(port), "--secret-env", SECRET_ENV, "--out", str(out)]
    receiver = Cli(args, env, tmp_path)
    first = [make_alert(f"a{n}", kind="link" if n % 2 else "anomaly") for n in range(BATCH)]
    second = [make_alert(f"b{n}", severity="critical") for n in range(BATCH)]
    unwanted = [make_alert(f"c{n}", kind="cluster") for n in range(3)]
    unwanted += [make_alert(f"s{n}", shadow=True) for n in range(2)]
    ensure_topics(bootstrap, [run_settings.alerts_topic])
    produce(bootstrap, run_settings.alerts_topic, first + unwanted)
    workers: list[Cli] = []
    try:
        # The receiver is down: every first attempt fails, and retries come back
        # from the tier topics and fail again.
        worker = Deliverer(env, tmp_path).start()
        workers.append(worker)
        worker.wait_attempts("retry", 2 * BATCH)
        worker.wait_attempts("filtered", len(unwanted))
        wait_for(lambda: worker.pending() > 0, what="pending retries", timeout=15)
        assert worker.attempts("delivered") == 0
        assert worker.stop() == 0  # graceful: batch finished, retries produced, offsets committed

        # New alerts while no worker runs; then a worker that is killed outright.
        produce(bootstrap, run_settings.alerts_topic, second)
        worker = Deliverer(env, tmp_path).start()
        workers.append(worker)
        worker.wait_attempts("retry", 2 * BATCH)
        worker.kill()

        worker = Deliverer(env, tmp_path).start()
        workers.append(worker)
        receiver.start().wait_event("receiver_listening")
        wanted = {a["alert_id"]: a for a in first + second}
        wait_for(
            lambda: len(recorded(out)) >= len(wanted),
            what=f"{len(wanted)} deliveries",
            timeout=60,
            abort=worker.died,
        )
        wait_until_consumed(bootstrap, run_settings.webhooks_group, [run_settings.alerts_topic])
        wait_for(lambda: worker.pending() == 0, what="no pending retries", timeout=15)

        lines = recorded(out)
        ids = [line["webhook_id"] for line in lines]
        assert sorted(ids) == sorted(wanted), "each wanted alert exactly once, nothing else"
        for line in lines:
            alert = wanted[line["webhook_id"]]
            assert line["alert"] == alert
            trace = uuid.uuid5(uuid.NAMESPACE_OID, alert["alert_id"]).hex
            # The alert's trace continues: the POST carries its own span, in that trace.
            assert line["traceparent"].split("-")[1] == trace
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["rejected"] == 0  # every delivery carried a valid, fresh signature
        assert topic_size(bootstrap, run_settings.webhooks_deadletter_topic) == 0

        # Replay the whole alerts topic in a new group: the receiver acknowledges
        # every delivery as a duplicate and records nothing new.
        replay_group = f"{run_settings.webhooks_group}-replay"
        replay_env = {
            **env,
            "FRAUDGRAPH_WEBHOOKS_GROUP": replay_group,
            "FRAUDGRAPH_WEBHOOKS_RETRY_TOPIC_PREFIX": f"{run_settings.alerts_topic}.replay-retry",
        }
        replay = Deliverer(replay_env, tmp_path).start()
        workers.append(replay)
        replay.wait_attempts("delivered", len(wanted))
        wait_until_consumed(bootstrap, replay_group, [run_settings.alerts_topic])
        assert recorded(out) == lines
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["duplicates"] >= len(wanted)
        assert health["rejected"] == 0
        for running in workers[-2:]:
            assert running.stop() == 0
        assert receiver.stop() == 0
    finally:
        for process in [*workers, receiver]:
            process.kill()
