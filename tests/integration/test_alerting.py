"""Alerting on the real native Prometheus and Alertmanager of the stack.

The lag rule is the production one from observability/prometheus/rules.yml, same
expression and same 50,000-message threshold, rewritten only in what a test must
change: its job selector (this run's own exporter, a file_sd target of its own),
its name (the shared stack has no demo worker, so its FraudgraphWorkerDown would
inhibit the real name in Alertmanager) and `for:` (15 s, not 10 minutes). The
drop-in rule and target files live in the stack's Prometheus folder and are
removed afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.services.alertmanager import AlertmanagerService, AlertReceiverService
from fraudgraph.stack.services.prometheus import RULES_FILE, PrometheusService
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.support import WorkerProcess, end_offsets, private_run, wait_until_consumed

pytestmark = pytest.mark.integration

LAG_ALERT = "FraudgraphConsumerLagHigh"
LAG_RECORD = "fraudgraph:consumer_lag:sum"
PRODUCTION_JOBS = 'job=~"fraudgraph-worker|fraudgraph-exporter"'
LAG_THRESHOLD = 50_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lag_rules_for(run_id: str, job: str) -> tuple[str, dict[str, Any]]:
    """The production lag rule and its recording rule, pointed at `job`; (alert name, file)."""
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    rules = {rule.get("alert") or rule.get("record"): rule for g in groups for rule in g["rules"]}
    record, alert = copy.deepcopy(rules[LAG_RECORD]), copy.deepcopy(rules[LAG_ALERT])
    record_name = f"test_{run_id}:consumer_lag:sum"
    alert_name = f"Test{LAG_ALERT}{run_id}"
    # Each rewrite must apply: a reshaped production rule fails here, not silently.
    assert PRODUCTION_JOBS in record["expr"], record["expr"]
    assert alert["expr"].strip() == f"{LAG_RECORD} > {LAG_THRESHOLD}", alert["expr"]
    assert alert["for"] == "10m"
    record.update(record=record_name, expr=record["expr"].replace(PRODUCTION_JOBS, f'job="{job}"'))
    alert.update(
        alert=alert_name, expr=alert["expr"].replace(LAG_RECORD, record_name), **{"for": "15s"}
    )
    alert["labels"] = {**alert["labels"], "test_run": run_id}
    return alert_name, {
        "groups": [{"name": f"test-{run_id}", "interval": "5s", "rules": [record, alert]}]
    }


class Exporter:
    """`fraudgraph exporter` for one run's group and topics, on a port of its own."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        handle, name = tempfile.mkstemp(prefix="exporter-", suffix=".log")
        os.close(handle)
        self.log_path = Path(name)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fraudgraph", "exporter", "--port", str(self.port)],
                env={**os.environ, **settings.as_environment()},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def exit_reason(self) -> str | None:
        if self.process.poll() is None:
            return None
        return "exporter exited:\n" + self.log_path.read_text()[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@dataclass
class PrometheusApi:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def target_health(self, job: str) -> str | None:
        answer = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=10)
        for target in answer.json()["data"]["activeTargets"]:
            if target["labels"].get("job") == job:
                return str(target["health"])
        return None

    def rule_group_loaded(self, name: str) -> bool:
        answer = httpx.get(f"{self.url}/api/v1/rules", timeout=10)
        return any(group["name"] == name for group in answer.json()["data"]["groups"])


def received(receiver: AlertReceiverService) -> list[dict[str, Any]]:
    if not receiver.received_file.exists():
        return []
    return [json.loads(line) for line in receiver.received_file.read_text().splitlines()]


def notified(receiver: AlertReceiverService, alertname: str, status: str = "firing") -> bool:
    return any(
        alert["labels"].get("alertname") == alertname and alert["status"] == status
        for line in received(receiver)
        if str(line["webhook_id"]).startswith("alertmanager-")
        for alert in line["alert"]["alerts"]
    )


@pytest.fixture
def monitoring(stack: Stack) -> tuple[PrometheusService, AlertReceiverService]:
    prometheus, receiver = stack.service("prometheus"), stack.service("alert-receiver")
    assert isinstance(prometheus, PrometheusService)
    assert isinstance(receiver, AlertReceiverService)
    return prometheus, receiver


@pytest.fixture
def run(settings: Settings) -> Iterator[Settings]:
    local = private_run(settings, "lagalert")
    yield local
    admin = AdminClient({"bootstrap.servers": local.kafka_bootstrap})
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(local.topic_prefix)]
    if names:
        for future in admin.delete_topics(names).values():
            future.result(timeout=30)

    def group_deleted() -> bool:
        # A killed member holds the group until its session times out (10 s).
        for future in admin.delete_consumer_groups([local.worker_group]).values():
            try:
                future.result(timeout=30)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    raise
        return True

    wait_for(group_deleted, what=f"group {local.worker_group} deleted", timeout=60, interval=1)


def test_lag_alert_fires_and_is_delivered_while_the_worker_is_stopped(
    run: Settings, monitoring: tuple[PrometheusService, AlertReceiverService]
) -> None:
    prometheus, receiver = monitoring
    api = PrometheusApi(prometheus.url)
    run_id = uuid.uuid4().hex[:8]
    job = f"fraudgraph-test-{run_id}"
    topics = cdc_topics(run, default_mapping())
    ensure_topics(run.kafka_bootstrap, topics)
    # Fresh topics answer offset queries once their leaders are elected.
    wait_for(lambda: end_offsets(run.kafka_bootstrap, topics), what="run topics ready", timeout=30)
    transactions = next(t for t in topics if t.endswith(".transactions"))
    producer = Producer({"bootstrap.servers": run.kafka_bootstrap, "linger.ms": 50})

    def produce(count: int) -> None:
        for n in range(count):
            producer.produce(transactions, key=b"{}", value=b'{"not": "a change event %d"}' % n)
            if n % 10_000 == 0:
                producer.poll(0)
        assert producer.flush(30) == 0

    # A worker of the group consumes a few events (dead letters: they are not CDC)
    # and commits, so the group exists with offsets, as in production.
    worker = WorkerProcess(run)
    worker.start()
    exporter = Exporter(run)
    alert_name, rules = lag_rules_for(run_id, job)
    rules_file = prometheus.rules_dir / f"test-{run_id}.yml"
    targets_file = prometheus.targets_dir / f"test-{run_id}.json"
    try:
        produce(10)
        wait_until_consumed(run.kafka_bootstrap, run.worker_group, topics, timeout=120)
        worker.kill()
        stopped_at = time.monotonic()

        rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
        targets_file.write_text(
            json.dumps([{"targets": [f"127.0.0.1:{exporter.port}"], "labels": {"job": job}}])
        )
        prometheus.reload()
        assert api.rule_group_loaded(f"test-{run_id}")
        wait_for(
            lambda: api.target_health(job) == "up",
            what=f"Prometheus scraping the run's exporter ({job})",
            timeout=60,
            abort=exporter.exit_reason,
        )
        assert api.query(f'ALERTS{{alertname="{alert_name}"}}') == []

        produce(LAG_THRESHOLD + 1)
        produced_at = time.monotonic()
        wait_for(
            lambda: bool(api.query(f'ALERTS{{alertname="{alert_name}", alertstate="firing"}}')),
            what=f"{alert_name} firing",
            timeout=120,
            interval=1,
            abort=exporter.exit_reason,
        )
        fired_at = time.monotonic()
        lag = api.query(f"test_{run_id}:consumer_lag:sum")
        assert [float(sample["value"][1]) for sample in lag] == [LAG_THRESHOLD + 1]
        wait_for(
            lambda: notified(receiver, alert_name),
            what=f"{alert_name} reaching the stack's receiver through Alertmanager",
            timeout=90,
            interval=1,
        )
        delivered_at = time.monotonic()
        print(
            f"\nworker stopped -> lag produced {produced_at - stopped_at:.1f}s; "
            f"lag produced -> alert firing {fired_at - produced_at:.1f}s; "
            f"worker stopped -> firing {fired_at - stopped_at:.1f}s; "
            f"firing -> received by the webhook {delivered_at - fired_at:.1f}s"
        )
    finally:
        worker.kill()
        exporter.stop()
        rules_file.unlink(missing_ok=True)
        targets_file.unlink(missing_ok=True)
        prometheus.reload()


def test_an_alert_posted_to_alertmanager_reaches_the_receiver_authenticated(
    stack: Stack, monitoring: tuple[PrometheusService, AlertReceiverService]
) -> None:
    _, receiver = monitoring
    alertmanager = stack.service("alertmanager")
    assert isinstance(alertmanager, AlertmanagerService)
    alert_name = f"TestAlertmanagerRoute{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{alertmanager.url}/api/v2/alerts",
        json=[{"labels": {"alertname": alert_name, "severity": "info"}}],
        timeout=10,
    ).raise_for_status()
    wait_for(
        lambda: notified(receiver, alert_name),
        what=f"{alert_name} at the receiver",
        timeout=60,
        interval=0.5,
    )
    # The receiver refuses the same path without the token Alertmanager sent.
    refused = httpx.post(f"{receiver.url}/alertmanager", json={"alerts": []}, timeout=10)
    assert refused.status_code == 401
