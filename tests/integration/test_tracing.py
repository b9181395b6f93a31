"""One trace from a committed transaction to the webhook it caused, on the real stack.

A takeover is committed in PostgreSQL (an old customer's new device, failed tries,
a contact change), then the payout: a transfer to a new payee from the intruder's
device. The shared connector captures it; a private worker (its own group, alerts
topic and state folder, starting at the topics' current end) builds the graph and
raises the payout alert; a private webhook worker delivers it to a verifying
receiver. The spans the processes exported must form one trace for the payout
transaction, from consume to the POST, and `fraudgraph trace` must print it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudgraph.alerts.webhooks.kafka import ensure_topics
from fraudgraph.alerts.webhooks.testing import new_secret
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.trace_cli import TraceNotFoundError, find_transaction
from fraudgraph.observability.trace_files import SpanRecord, span_files
from fraudgraph.observability.tracing import traces_dir
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.waiting import wait_for
from fraudgraph.stream.topics import cdc_topics
from tests.integration.test_detection_pipeline import TAKEOVER_PII, _insert_takeover
from tests.integration.test_webhooks import Cli, Deliverer, free_port, recorded
from tests.support import WorkerProcess, end_offsets, private_run, run_cli

pytestmark = pytest.mark.integration
SECRET_ENV = "FRAUDGRAPH_TEST_TRACE_WEBHOOK_SECRET"


@dataclass
class Traced:
    settings: Settings
    trace_dir: Path  # this run's worker and webhook worker
    connect_file: Path  # the stack's Connect (other workers' files there hold other traces)
    payout_txn: int
    received: Path
    worker: WorkerProcess


def _start_at_the_end(settings: Settings, topics: list[str]) -> None:
    """Commit the group's offsets at the topics' ends: the worker skips the shared history."""
    ends = end_offsets(settings.kafka_bootstrap, topics)
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.worker_group}
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()], asynchronous=False
        )
    finally:
        consumer.close()


def _insert_payout(dsn: str, ids: dict[str, int], txn_id: int, now: datetime) -> None:
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(
            "INSERT INTO bank.transactions (txn_id, account_id, counterparty_iban, device_id,"
            " ip_address, channel, amount, currency, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, '185.220.101.4', 'transfer', 4800.00, 'GBP', %s, %s)",
            (
                txn_id,
                ids["account"],
                f"LT00MULE{txn_id}",
                ids["new_device"],
                now - timedelta(minutes=1),
                now - timedelta(minutes=1),
            ),
        )


@pytest.fixture(scope="module")
def traced(
    settings: Settings, stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traced]:
    scratch = tmp_path_factory.mktemp("tracing")
    local = private_run(
        settings,
        "tr",
        topic_prefix=settings.topic_prefix,  # the shared connector's topics
        state_dir=scratch / "state",
        worker_batch_seconds=0.05,
        webhooks_group=f"tr-{uuid.uuid4().hex[:8]}-webhooks",
        webhooks_file=scratch / "endpoints.yaml",
        webhooks_metrics_port=0,
        tracing="file",
    )
    local = local.model_copy(
        update={
            "webhooks_retry_topic_prefix": f"{local.alerts_topic}.retry",
            "webhooks_deadletter_topic": f"{local.alerts_topic}.webhooks-deadletter",
        }
    )
    topics = cdc_topics(local, default_mapping())
    _start_at_the_end(local, topics)
    ensure_topics(local.kafka_bootstrap, [local.alerts_topic])
    port = free_port()
    assert local.webhooks_file is not None
    local.webhooks_file.write_text(
        f"endpoints:\n  - name: traced\n    url: http://127.0.0.1:{port}/hook\n"
        f"    secret_env: {SECRET_ENV}\n"
    )
    env = {**os.environ, **local.as_environment(), SECRET_ENV: new_secret()}
    received = scratch / "received.jsonl"
    receiver = Cli(
        ["receive", "--port", str(port), "--secret-env", SECRET_ENV, "--out", str(received)],
        env,
        scratch,
    )
    worker = WorkerProcess(local)
    deliverer: Deliverer | None = None
    try:
        receiver.start().wait_event("receiver_listening")
        deliverer = Deliverer(env, scratch).start()
        worker.start()
        # Ids of this run only: the shared database keeps every earlier run's rows.
        base = 8 * 10**12 + (uuid.uuid4().int % 10**6) * 1000
        now = datetime.now(UTC)
        dsn = local.pg_dsn.get_secret_value()
        ids = _insert_takeover(dsn, now, base)
        payout = base + 500
        _insert_payout(dsn, ids, payout, now)
        wait_for(
            lambda: any(
                payout in map(int, r["alert"].get("txn_ids", [])) for r in recorded(received)
            ),
            what="the payout's alert at the webhook receiver",
            timeout=180,
            interval=0.5,
            abort=worker.exit_reason,
        )
        connect_file = traces_dir(stack.config.state_dir) / "connect.otlp.jsonl"
        yield Traced(local, traces_dir(local.state_dir), connect_file, payout, received, worker)
    finally:
        worker.kill()
        if deliverer is not None:
            deliverer.kill()
        receiver.kill()
        _delete_run_topics(local)


def _delete_run_topics(settings: Settings) -> None:
    run = settings.alerts_topic.removesuffix(".alerts")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{run}.")]
    for future in admin.delete_topics(mine).values() if mine else []:
        future.result(timeout=30)


def _files(traced: Traced) -> list[Path]:
    connect = [traced.connect_file] if traced.connect_file.exists() else []
    return span_files([traced.trace_dir]) + connect


def _trace_of(traced: Traced) -> list[SpanRecord]:
    """The payout's one trace, once its POST span has been exported (batches flush every 0.5 s)."""

    def with_post() -> list[SpanRecord] | None:
        try:
            found = find_transaction(_files(traced), str(traced.payout_txn))
        except TraceNotFoundError:
            return None
        assert len(found) == 1, f"one trace per transaction, got {list(found)}"
        (spans,) = found.values()
        return spans if any(s.kind == "CLIENT" for s in spans) else None

    return wait_for(with_post, what="the payout's trace with its POST", timeout=30)


def _one(spans: list[SpanRecord], name: str, **attributes: object) -> SpanRecord:
    matching = [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(matching) == 1, f"{name} {attributes}: {[(s.name, s.service) for s in spans]}"
    return matching[0]


def test_the_payout_is_one_trace_from_consume_to_the_webhook_post(traced: Traced) -> None:
    spans = _trace_of(traced)
    alerts_topic = traced.settings.alerts_topic
    topic = f"{traced.settings.topic_prefix}.{traced.settings.source_schema}.transactions"
    process = _one(spans, f"process {topic}", **{sc.ROW_KEY: str(traced.payout_txn)})
    assert process.kind == "CONSUMER"
    assert process.attributes[sc.TABLE] == "transactions"
    assert process.attributes[sc.OP] == "c"
    assert process.attributes[sc.LSN] > 0
    assert process.attributes[sc.COMMIT_MS] <= process.attributes[sc.KAFKA_TIMESTAMP_MS]
    by_id = {s.span_id: s for s in spans}
    # The batch's steps: spans of the batch the process span links to.
    (batch_id,) = [span_id for _, span_id in process.links]
    assert by_id[batch_id].name == sc.BATCH
    steps = {s.name: s for s in spans if s.parent_id == batch_id}
    assert {sc.DECODE, sc.GRAPH_WRITE, sc.DETECT} <= set(steps)
    assert steps[sc.GRAPH_WRITE].attributes[sc.DB_SYSTEM] == "neo4j"
    assert any(
        s.name.startswith("detector ") for s in spans if s.parent_id == steps[sc.DETECT].span_id
    )
    sends = [s for s in spans if s.name == f"send {alerts_topic}"]
    assert sends and all(s.parent_id == process.span_id for s in sends)
    payout_alert = next(
        s for s in sends if str(traced.payout_txn) in s.attributes[sc.ALERT_TXN_IDS]
    )
    assert payout_alert.kind == "PRODUCER"
    posts = [s for s in spans if s.kind == "CLIENT"]
    delivered = [p for p in posts if p.attributes.get(sc.HTTP_STATUS) == 200]
    assert delivered, posts
    post = delivered[0]
    consumed = by_id[str(post.parent_id)]
    assert consumed.name == f"process {alerts_topic}"
    assert consumed.service == "fraudgraph-webhooks"
    assert by_id[str(consumed.parent_id)].span_id in {s.span_id for s in sends}
    assert post.attributes[sc.HTTP_METHOD] == "POST"
    # The receiver got the POST span's own traceparent.
    line = next(
        r
        for r in recorded(traced.received)
        if traced.payout_txn in map(int, r["alert"].get("txn_ids", []))
    )
    assert line["traceparent"].startswith(f"00-{post.trace_id}-{post.span_id}-")
    assert line["alert"]["trace_id"] == post.trace_id


def test_fraudgraph_trace_prints_the_journey(traced: Traced) -> None:
    _trace_of(traced)
    dirs = ["--dir", str(traced.trace_dir)]
    shown = run_cli("trace", str(traced.payout_txn), *dirs, settings=traced.settings)
    assert shown.returncode == 0, shown.stderr
    for expected in ("process", "graph write", "detect", "send", "POST", "worker → neo4j"):
        assert expected in shown.stdout, expected
    assert "alert → webhook" in shown.stdout
    unknown = run_cli("trace", "1", *dirs, settings=traced.settings)
    assert unknown.returncode == 2
    assert "no spans of transaction 1" in unknown.stderr


def test_the_trace_starts_at_the_commit_in_connect(traced: Traced, stack: Stack) -> None:
    """Debezium's ActivateTracingSpan, made real by the OpenTelemetry agent on Connect."""
    connect = stack.service("connect").process.process()
    assert connect is not None
    command = " ".join(connect.cmdline())
    assert "opentelemetry-javaagent" in command, (
        "Kafka Connect runs without the OpenTelemetry agent (started by an older "
        "`stack up`): restart it with `fraudgraph stack down connect && fraudgraph stack up`"
    )
    spans = _trace_of(traced)
    process = next(s for s in spans if s.kind == "CONSUMER" and sc.TABLE in s.attributes)

    def source_span() -> SpanRecord | None:
        found = find_transaction(_files(traced), str(traced.payout_txn))
        return next((s for s in found[process.trace_id] if s.name == sc.DEBEZIUM_COMMIT), None)

    commit = wait_for(source_span, what="Connect's db-log-write span", timeout=30)
    assert process.parent_id == commit.span_id
    assert commit.service == "kafka-connect"
    assert int(commit.attributes["db.lsn"]) == process.attributes[sc.LSN]
    assert commit.attributes["db.table"] == "transactions"
    assert commit.start_ns // 1_000_000 == process.attributes[sc.COMMIT_MS]


def _holds(path: Path, needles: list[bytes], chunk: int = 64 << 20) -> list[bytes]:
    """The needles found in a file, read in overlapping chunks (span files run to 256 MB)."""
    found: set[bytes] = set()
    overlap = max(len(n) for n in needles)
    with path.open("rb") as source:
        tail = b""
        while block := source.read(chunk):
            window = tail + block
            found |= {n for n in needles if n in window}
            tail = window[-overlap:]
    return sorted(found)


def test_no_raw_pii_in_the_spans(traced: Traced) -> None:
    """Span attributes hold keys, LSNs and coordinates, never row values: the takeover's
    e-mails, phones, national id and address appear in no exported span, ours or
    Connect's."""
    _trace_of(traced)  # every span of the payout exported
    needles = [value.encode() for value in TAKEOVER_PII]
    files = _files(traced)
    assert any(f.parent == traced.trace_dir for f in files)
    assert traced.connect_file in files
    # The scan is real: a planted value is found.
    planted = traced.trace_dir / "planted.txt"
    planted.write_bytes(b'{"attributes": {"email": "' + needles[0] + b'"}}')
    assert _holds(planted, needles) == [needles[0]]
    planted.unlink()
    assert {str(f): _holds(f, needles) for f in files} == {str(f): [] for f in files}
