"""The alert half of `fraudgraph demo`: live traffic with fraud in it, alerts as they
arrive, then how good they were against the simulator's labels."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console, Group
from rich.live import Live
from rich.table import Column, Table
from rich.text import Text

from fraudgraph.errors import FraudgraphError
from fraudgraph.evaluation import sources
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map, report_table
from fraudgraph.evaluation.scoring import parse_time, score
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.observability.lag import LagProbe, LagUnavailableError
from fraudgraph.settings import Settings
from fraudgraph.simulator.labels import Label, read_labels
from fraudgraph.stream.topics import cdc_topics
from fraudgraph.tables import Fitting

SHOWN = 14  # alerts kept on screen
DRAIN_TIMEOUT_S = 120.0
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}


def show_live_alerts(
    settings: Settings,
    console: Console,
    *,
    customers: int,
    days: int,
    seconds: float = 60.0,
    rate: float = 50.0,
) -> None:
    """Run the live simulator for `seconds`; show each alert as the worker raises it."""
    live_labels = settings.state_dir / "demo-live-labels.jsonl"
    consumer = _consumer_at_end(settings)
    console.print(
        f"\nlive traffic: {rate:.0f} payments/s with a fraud case every 3 s, for {seconds:.0f}s "
        f"(alerts from {settings.alerts_topic})"
    )
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraudgraph",
            "simulate",
            "--live",
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--rate",
            str(rate),
            "--duration",
            str(seconds),
            "--case-every",
            "3",
            "--labels",
            str(live_labels),
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    shown: deque[dict[str, Any]] = deque(maxlen=SHOWN)
    counts = {"alerts": 0}
    lag = LagProbe(
        settings.kafka_bootstrap, settings.worker_group, cdc_topics(settings, default_mapping())
    )
    drained_by: float | None = None
    next_lag_check = 0.0
    try:
        with Live(_view(shown, counts, "live"), console=console, refresh_per_second=4) as live:
            while True:
                message = consumer.poll(0.25)
                if message is not None and message.error() is None and message.value():
                    shown.appendleft(_row(orjson.loads(message.value() or b"{}"), message))
                    counts["alerts"] += 1
                if simulator.poll() is None:
                    live.update(_view(shown, counts, "live"))
                    continue
                drained_by = drained_by or time.monotonic() + DRAIN_TIMEOUT_S
                live.update(_view(shown, counts, "worker catching up"))
                if message is None and time.monotonic() >= next_lag_check:
                    next_lag_check = time.monotonic() + 1.0
                    if _caught_up(lag):
                        break
                if time.monotonic() > drained_by:
                    raise FraudgraphError(
                        "the worker did not catch up with the live traffic in "
                        f"{DRAIN_TIMEOUT_S:.0f}s; see its log (`make status`)"
                    )
    finally:
        consumer.close()
        if simulator.poll() is None:
            simulator.terminate()
    if not console.is_terminal:
        console.line()  # off a terminal, Live's one final frame ends without a newline
    if simulator.returncode != 0:
        tail = (simulator.stderr.read() if simulator.stderr else b"").decode(errors="replace")
        raise FraudgraphError(f"the live simulator failed: {tail.strip().splitlines()[-1:]}")
    show_quality(settings, console, [settings.state_dir / "demo-labels.jsonl", live_labels])


def show_quality(settings: Settings, console: Console, label_files: list[Path]) -> None:
    """Precision and recall of every alert on the topic against the demo's labels."""
    truth: list[Label] = []
    for path in label_files:
        if path.exists():
            truth.extend(read_labels(path))
    batch = sources.read_topic(settings.kafka_bootstrap, settings.alerts_topic, timeout=60)
    report = score(truth, batch.alerts, load_rule_map(DEFAULT_RULE_MAP))
    console.print(report_table(report))
    console.print(
        f"{batch.read:,} alerts scored against {len(truth):,} labels "
        f"({', '.join(p.name for p in label_files)}); the same with "
        f"`fraudgraph eval --labels {label_files[0]}`"
    )


def _consumer_at_end(settings: Settings) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"fraudgraph-demo-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    topic = settings.alerts_topic
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        consumer.close()
        raise FraudgraphError(f"alerts topic {topic!r} not found; is the worker running?")
    ends = []
    for partition in metadata.partitions:
        high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        ends.append(TopicPartition(topic, partition, high))
    consumer.assign(ends)
    return consumer


def _caught_up(lag: LagProbe) -> bool:
    try:
        return sum(lag.measure().values()) == 0
    except LagUnavailableError:
        return False


def _row(alert: dict[str, Any], message: Any) -> dict[str, Any]:
    committed = parse_time(alert.get("source_committed_at"))
    latency = message.timestamp()[1] - committed.timestamp() * 1000 if committed else None
    entities = alert.get("entities") or []
    return {
        "rule": alert.get("rule", "?"),
        "kind": alert.get("kind", "?"),
        "severity": alert.get("severity", "?"),
        "score": alert.get("score"),
        "entities": ", ".join(f"{e.get('type')} {e.get('id')}" for e in entities[:3])
        + (f" +{len(entities) - 3}" if len(entities) > 3 else ""),
        "latency_ms": latency,
    }


def _view(shown: deque[dict[str, Any]], counts: dict[str, int], phase: str) -> Group:
    return Group(Text(f"{counts['alerts']:,} alerts ({phase})", style="bold"), alerts_table(shown))


def alerts_table(rows: Iterable[dict[str, Any]]) -> Fitting:
    """The latest alerts (rows from `_row`), one line each on a wide console.

    In 80 columns `kind` goes (the rule names the finding) so the entities keep about
    twenty characters; an IPv6 address or a long id folds rather than being cut.
    """
    full = Table("rule", "kind", "severity", "score", "entities", "commit→alert", expand=True)
    compact = Table(
        Column("rule", no_wrap=True),  # a rule is a name to look up: kept whole
        "severity",
        "score",
        Column("entities", overflow="fold"),
        Column("commit→alert", no_wrap=True),
        expand=True,
    )
    for row in rows:
        latency = row["latency_ms"]
        severity = Text(row["severity"], style=SEVERITY_STYLE.get(row["severity"], ""))
        score = f"{row['score']:.2f}" if isinstance(row["score"], float | int) else "-"
        waited = f"{latency:,.0f} ms" if latency is not None else "-"
        full.add_row(row["rule"], row["kind"], severity, score, row["entities"], waited)
        compact.add_row(row["rule"], severity, score, row["entities"], waited)
    return Fitting(full, compact)
