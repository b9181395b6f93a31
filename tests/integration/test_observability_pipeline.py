"""Metrics and logs of a real run: a small simulated bank through Debezium, the worker and webhooks.

- the worker's /metrics counts exactly the rows it was sent: per table the snapshot
  (op r) equals the source rows, and live inserts move `op="c"` by their number;
- then live simulated traffic with fraud raises alerts, delivered by the webhook
  worker to the stack's receiver;
- every log line of our processes (worker, webhook delivery worker, the stack's
  alert receiver and exporter) is a JSON object, lines about one event carry its
  trace_id, and no log, alert delivery or /metrics text holds any of the
  simulator's raw PII values (national id, email, phone, address, card token).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.services.alertmanager import AlertReceiverService
from fraudgraph.stack.services.exporter import ExporterService
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics, ensure_topics
from tests.support import (
    end_offsets,
    private_run,
    run_cli,
    temporary_connector,
)

pytestmark = pytest.mark.integration

LIVE_INSERTS = 7
# Column -> what the simulator puts there that must never leave PostgreSQL in the clear.
PII_COLUMNS = {
    "customers": ("national_id", "email", "phone", "address_line"),
    "cards": ("pan_token",),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Child:
    """A `fraudgraph …` child process with its stderr (the JSON log) in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        handle, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
        os.close(handle)
        self.log_path = Path(path)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fraudgraph", *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def exit_reason(self) -> str | None:
        if self.process.poll() is None:
            return None
        return f"exited {self.process.returncode}:\n" + self.log_path.read_text()[-2000:]

    def stop(self) -> None:
        """SIGTERM and wait: a clean stop flushes its last log lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def metric_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def events_by_table(url: str, op: str | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (name, labels), value in metric_samples(url).items():
        label = dict(labels)
        if name == "fraudgraph_events_total" and (op is None or label["op"] == op):
            counts[label["table"]] = counts.get(label["table"], 0) + int(value)
    return counts


def source_row_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM bank.{table}").fetchone()[0]  # type: ignore[index]  # noqa: S608 - fixed names
            for table in default_mapping().tables
        }


# Copies of the first rows under new ids: valid rows whatever the simulator generated.
_COLUMNS = (
    "account_id, counterparty_account_id, counterparty_iban, merchant_id, card_id,"
    " device_id, ip_address, channel, amount, currency, latitude, longitude, status"
)
_INSERT_COPIES = (
    f"INSERT INTO bank.transactions (txn_id, {_COLUMNS})"  # noqa: S608 - fixed names
    f" SELECT txn_id + (SELECT max(txn_id) FROM bank.transactions), {_COLUMNS}"
    " FROM bank.transactions ORDER BY txn_id LIMIT %s"
)


def insert_copies_of_transactions(dsn: str, count: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(_INSERT_COPIES, (count,))


def pii_values(dsn: str) -> set[str]:
    values: set[str] = set()
    with psycopg.connect(dsn) as connection:
        for table, columns in PII_COLUMNS.items():
            for column in columns:
                rows = connection.execute(
                    f"SELECT DISTINCT {column} FROM bank.{table} WHERE {column} IS NOT NULL"  # noqa: S608 - fixed names
                ).fetchall()
                # Very short values (a house number alone) would match unrelated text.
                values |= {str(value) for (value,) in rows if len(str(value)) >= 6}
    return values


def pii_found(texts: Iterable[tuple[str, str]], values: set[str]) -> list[tuple[str, str]]:
    """(where, value) for every PII value that occurs in a text."""
    return [(where, value) for where, text in texts for value in values if value in text]


def delivered(metrics_url: str) -> float:
    """Alerts the webhook worker delivered (the receiver answered 2xx)."""
    return sum(
        value
        for (name, labels), value in metric_samples(metrics_url).items()
        if name == "fraudgraph_webhook_attempts_total" and ("outcome", "delivered") in labels
    )


@dataclass
class Run:
    settings: Settings
    worker: Child
    webhooks: Child
    source_rows: dict[str, int]
    snapshot_events: dict[str, int]
    live_events: dict[str, int]
    dsn: str
    metrics_text: dict[str, str] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)


@pytest.fixture(scope="module")
def run(
    settings: Settings, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("obs")
    loaded = run_cli(
        "simulate",
        "--bulk",
        "--reset",
        "--customers",
        "60",
        "--days",
        "2",
        "--seed",
        "23",
        "--labels",
        str(folder / "labels.jsonl"),
        settings=settings,
    )
    assert loaded.returncode == 0, loaded.stderr
    receiver = stack.service("alert-receiver")
    assert isinstance(receiver, AlertReceiverService)
    (folder / "endpoints.yaml").write_text(
        "endpoints:\n"
        "  - name: stack-receiver\n"
        f"    url: {receiver.url}/hooks/fraud\n"
        "    secret_env: OBS_TEST_WEBHOOK_SECRET\n"
    )
    local = private_run(
        settings,
        "obs",
        metrics_port=free_port(),
        webhooks_metrics_port=free_port(),
        webhooks_file=folder / "endpoints.yaml",
        webhooks_group=f"obs-{os.getpid()}-webhooks",
        webhooks_retry_topic_prefix=f"obs-{os.getpid()}.retry",
        webhooks_deadletter_topic=f"obs-{os.getpid()}.webhooks-deadletter",
    )
    env = {
        **os.environ,
        **local.as_environment(),
        "OBS_TEST_WEBHOOK_SECRET": stack.secrets.webhook_secret,
    }
    try:
        topics = cdc_topics(local, default_mapping())
        ensure_topics(local.kafka_bootstrap, topics)
        wait_for(
            lambda: end_offsets(local.kafka_bootstrap, topics), what="topics ready", timeout=30
        )
        dsn = local.pg_dsn.get_secret_value()
        with temporary_connector(local, stack, local.topic_prefix):
            worker = Child("worker", ["worker", "--log-level", "INFO"], env)
            webhooks = Child("webhooks", ["webhooks", "deliver", "--log-level", "INFO"], env)
            try:
                source_rows = source_row_counts(dsn)
                metrics_url = f"http://127.0.0.1:{local.metrics_port}/metrics"
                wait_for(
                    lambda: (
                        events_by_table(metrics_url, "r")
                        == {t: n for t, n in source_rows.items() if n}
                    ),
                    what="the snapshot counted by the worker",
                    timeout=240,
                    interval=1,
                    abort=worker.exit_reason,
                )
                snapshot = events_by_table(metrics_url, "r")
                insert_copies_of_transactions(dsn, LIVE_INSERTS)
                wait_for(
                    lambda: events_by_table(metrics_url, "c") == {"transactions": LIVE_INSERTS},
                    what=f"{LIVE_INSERTS} live inserts counted",
                    timeout=120,
                    interval=0.5,
                    abort=worker.exit_reason,
                )
                live = events_by_table(metrics_url, "c")
                # Then live traffic with fraud cases (new customers, contact changes, card
                # tests...), so alerts are raised and delivered, and fresh PII flows through.
                webhooks_metrics = f"http://127.0.0.1:{local.webhooks_metrics_port}/metrics"
                traffic = run_cli(
                    "simulate",
                    "--live",
                    "--rate",
                    "40",
                    "--duration",
                    "8",
                    "--case-every",
                    "1",
                    "--seed",
                    "29",
                    settings=local,
                )
                assert traffic.returncode == 0, traffic.stderr
                wait_for(
                    lambda: delivered(webhooks_metrics) > 0,
                    what="an alert of the live traffic delivered to the stack's receiver",
                    timeout=120,
                    interval=1,
                    abort=lambda: worker.exit_reason() or webhooks.exit_reason(),
                )
                # One event that is not a change at all: the worker dead-letters it and logs its
                # coordinates, the one per-event log line a healthy run writes.
                transactions = next(t for t in topics if t.endswith(".transactions"))
                producer = Producer({"bootstrap.servers": local.kafka_bootstrap})
                producer.produce(transactions, key=b'{"txn_id": 1}', value=b"not json")
                assert producer.flush(30) == 0
                wait_for(
                    lambda: (
                        sum(
                            value
                            for (name, _), value in metric_samples(metrics_url).items()
                            if name == "fraudgraph_deadletters_total"
                        )
                        >= 1
                    ),
                    what="the undecodable event dead-lettered",
                    timeout=120,
                    interval=0.5,
                    abort=worker.exit_reason,
                )
                exporter = stack.service("exporter")
                assert isinstance(exporter, ExporterService)
                result = Run(
                    settings=local,
                    worker=worker,
                    webhooks=webhooks,
                    source_rows=source_rows,
                    snapshot_events=snapshot,
                    live_events=live,
                    dsn=dsn,
                    metrics_text={
                        "worker /metrics": httpx.get(metrics_url, timeout=10).text,
                        "webhooks /metrics": httpx.get(webhooks_metrics, timeout=10).text,
                        "exporter /metrics": httpx.get(f"{exporter.url}/metrics", timeout=10).text,
                    },
                )
            finally:
                worker.stop()
                webhooks.stop()
            result.logs = [
                worker.log_path,
                webhooks.log_path,
                receiver.process.files.log_file,
                exporter.process.files.log_file,
                receiver.received_file,
            ]
            yield result
    finally:
        _delete_topics(local, (local.topic_prefix, f"obs-{os.getpid()}"))


def _delete_topics(local: Settings, prefixes: tuple[str, ...]) -> None:
    admin = AdminClient({"bootstrap.servers": local.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
    for future in admin.delete_topics(mine).values() if mine else []:
        future.result(timeout=30)


def test_events_counter_equals_the_rows_sent(run: Run) -> None:
    """Per table, snapshot events = source rows; live inserts add exactly their number."""
    assert run.snapshot_events == {t: n for t, n in run.source_rows.items() if n}
    assert sum(run.source_rows.values()) > 500  # a bank, not a handful of rows
    assert run.live_events == {"transactions": LIVE_INSERTS}


def test_every_log_line_is_json_and_event_lines_carry_a_trace_id(run: Run) -> None:
    lines = 0
    coordinates = 0
    for path in run.logs[:4]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"{path}:{number} is not JSON: {line[:200]}")
            assert isinstance(record, dict), f"{path}:{number}"
            assert {"timestamp", "level", "event"} <= set(record), f"{path}:{number}: {line[:200]}"
            lines += 1
            if "offset" in record:
                coordinates += 1
                assert "trace_id" in record, (
                    f"{path}:{number} names an event but no trace: {line[:300]}"
                )
    assert lines > 10
    assert coordinates >= 1  # the dead letter's line at least


def test_no_raw_pii_in_logs_alerts_or_metrics(run: Run) -> None:
    values = pii_values(run.dsn)
    assert len(values) > 100
    texts = [(str(path), path.read_text()) for path in run.logs if path.exists()]
    texts += list(run.metrics_text.items())
    # The scan is real: a value planted in a copy of the texts is found.
    planted = next(iter(values))
    assert pii_found([("planted", f'{{"email": "{planted}"}}')], values)
    assert pii_found(texts, values) == []
