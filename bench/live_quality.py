"""Detection quality through the real pipeline: `fraudgraph bench quality`.

`fraudgraph analyze replay` scores the detectors in memory; this scores what the
service itself raised: a simulated bank is bulk-loaded into PostgreSQL, Debezium
streams it, a worker (own consumer group and alerts topic) builds the graph and
runs detection, and `fraudgraph eval` scores the alerts topic against the labels.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from fraudgraph.bench.ingest import clear_shared_graph
from fraudgraph.bench.pipeline import (
    cdc_ends_before_load,
    group_lag,
    private_run_env,
    run_fraudgraph,
    start_fresh_worker,
)
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map, report_table
from fraudgraph.evaluation.scoring import report_to_json, score
from fraudgraph.evaluation.sources import read_topic
from fraudgraph.graph.connection import open_driver
from fraudgraph.settings import Settings
from fraudgraph.simulator.labels import read_labels
from fraudgraph.stack.waiting import wait_for


def measure_live_quality(
    settings: Settings,
    *,
    customers: int,
    days: int,
    seed: int,
    console: Console,
    generator: str = "classic",
) -> dict[str, Any]:
    run = f"quality-{uuid.uuid4().hex[:8]}"
    alerts_topic = f"{run}.alerts"
    env = private_run_env(settings, run)
    work = Path(tempfile.mkdtemp(prefix=f"{run}-"))
    labels = work / "labels.jsonl"
    topics, before_load = cdc_ends_before_load(settings, run)
    console.print(f"bulk-loading {customers:,} customers, {days} days ({generator}, seed {seed}) …")
    began = time.monotonic()
    run_fraudgraph(
        [
            "simulate",
            "--bulk",
            "--reset",
            "--seed",
            str(seed),
            "--generator",
            generator,
            "--customers",
            str(customers),
            "--days",
            str(days),
            "--labels",
            str(labels),
        ],
        env,
        timeout=3600,
    )
    loaded_s = time.monotonic() - began
    with open_driver(settings) as driver:
        clear_shared_graph(driver)
    worker = start_fresh_worker(
        settings.kafka_bootstrap, run, before_load, env, work / "worker.log"
    )
    try:
        console.print("worker building the graph and detecting …")
        began = time.monotonic()
        wait_for(
            lambda: group_lag(settings.kafka_bootstrap, f"{run}-worker", topics) == 0,
            what="worker to catch up with the bank",
            timeout=7200,
            interval=5,
            abort=lambda: None if worker.poll() is None else "worker exited",
        )
        processed_s = time.monotonic() - began
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    batch = read_topic(settings.kafka_bootstrap, alerts_topic, timeout=120)
    report = score(read_labels(labels), batch.alerts, load_rule_map(DEFAULT_RULE_MAP))
    console.print(report_table(report))
    document = report_to_json(report)
    (work / "eval.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return {
        "customers": customers,
        "days": days,
        "seed": seed,
        "generator": generator,
        "alerts": batch.read,
        "invalid_alerts": batch.invalid,
        "bulk_load_s": round(loaded_s, 1),
        "worker_s": round(processed_s, 1),
        "report": document,
        "labels": str(labels),
        "reproduce": f"fraudgraph eval --labels {labels} --topic {alerts_topic}",
    }
