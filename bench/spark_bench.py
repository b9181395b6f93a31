"""Spark against a single machine: `fraudgraph bench spark`.

Two measurements in one run, on the same machine (local[N]):

1. **Rings**: components + ring scoring at 1x, 2x, 4x a synthetic bank-like identity
   graph (`bench/clusters.py`), on Spark (`spark/components.py` + per-component
   `find_rings`) and with networkx (`detection/clusters.py`: components, then
   `find_rings`) on the same focused links; both must find the same rings.
2. **Backfill vs streaming**: the same preloaded change events (bench/preload.py,
   topics unique to the run) written into an empty graph by `spark backfill` and by
   the stream worker (bench/worker_run.py), events per second each.

The Spark session's start-up (JVM, jar resolution) is reported, not counted.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from rich.console import Console

from bench.clusters import synthetic_identity_bank
from bench.ingest import clear_shared_graph
from bench.observe import GroupProgress
from bench.preload import PARTITIONS, delete_run_topics, preload
from bench.worker_run import run_worker, worker_environment
from detection import clusters
from fraudgraph.errors import FraudgraphError
from fraudgraph.settings import Settings
from graph.connection import graph_writer, open_driver
from graph.mapping import default_mapping
from spark.backfill import run_backfill
from spark.options import SparkOptions
from spark.rings import RingSettings, rings_from_links
from spark.session import spark_session, ui_address


def _timed(action: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def measure_rings(spark: SparkSession, edges: int, scales: list[int], seed: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for scale in scales:
        bank = synthetic_identity_bank(edges * scale, seed=seed)
        links = clusters.focus(bank.links)
        graph = clusters.build_graph(links)
        nx_components, nx_components_s = _timed(lambda g=graph: clusters.components(g))
        nx_rings, nx_rings_s = _timed(lambda ls=links: clusters.find_rings(ls))
        frame = spark.createDataFrame(
            [(k.a, k.b, k.kind, k.amount) for k in links if k.a != k.b],
            "a long, b long, kind string, amount double",
        ).cache()
        frame.count()  # loaded before the clock starts: the same input to both
        reported = spark.createDataFrame([], "customer_id long")
        analysis, spark_s = _timed(
            lambda f=frame, r=reported: rings_from_links(f, r, RingSettings())
        )
        frame.unpersist()
        same = [r.members for r in analysis.rings] == [r.members for r in nx_rings]
        figures |= {
            f"x{scale}_focused_links": len(links),
            f"x{scale}_graph_edges": graph.number_of_edges(),
            f"x{scale}_components": len(nx_components),
            f"x{scale}_networkx_components_s": round(nx_components_s, 2),
            f"x{scale}_networkx_components_and_rings_s": round(nx_components_s + nx_rings_s, 2),
            f"x{scale}_spark_components_and_rings_s": round(spark_s, 2),
            f"x{scale}_spark_over_networkx": round(spark_s / (nx_components_s + nx_rings_s), 2),
            f"x{scale}_rings": len(nx_rings),
            f"x{scale}_same_rings": same,
        }
    return figures


def measure_backfill(
    spark: SparkSession, settings: Settings, events: int, partitions: int, console: Console
) -> dict[str, Any]:
    run_id = f"bench-spark-{uuid.uuid4().hex[:8]}"
    mapping = default_mapping()
    local = settings.model_copy(
        update={
            "topic_prefix": run_id,
            "worker_group": f"{run_id}-worker",
            "deadletter_topic": f"{run_id}.deadletter",
        }
    )
    driver = open_driver(settings)
    try:
        console.print(f"preloading {events:,} change events onto {run_id}.* …")
        loaded = preload(
            settings.kafka_bootstrap,
            mapping,
            topic_prefix=run_id,
            schema=settings.source_schema,
            events=events,
            on_simulate=lambda *_: None,
            on_progress=lambda *_: None,
        )
        graph_writer(settings, driver, mapping).setup()
        clear_shared_graph(driver)
        console.print("backfill (Spark) …")
        backfill = run_backfill(spark, local, partitions=partitions, handover=False)
        clear_shared_graph(driver)
        console.print("streaming worker …")
        partitions_of = [(topic, p) for topic in loaded.topics for p in range(PARTITIONS)]
        progress = GroupProgress(settings.kafka_bootstrap, local.worker_group, partitions_of)
        progress.start()
        with tempfile.TemporaryDirectory(prefix=run_id) as scratch:
            try:
                worker = run_worker(
                    worker_environment(
                        settings.as_environment(),
                        {
                            "FRAUDGRAPH_TOPIC_PREFIX": run_id,
                            "FRAUDGRAPH_WORKER_GROUP": local.worker_group,
                            "FRAUDGRAPH_DEADLETTER_TOPIC": local.deadletter_topic,
                            "FRAUDGRAPH_DETECTION_ENABLED": "false",
                            "FRAUDGRAPH_METRICS_PORT": "0",
                        },
                    ),
                    progress,
                    events=loaded.events,
                    log_file=Path(scratch) / "worker.log",
                    profile_file=None,
                    on_progress=lambda *_: None,
                    timeout=120 + loaded.events / 500,
                )
            finally:
                progress.delete_group()
                progress.close()
    finally:
        try:
            delete_run_topics(settings.kafka_bootstrap, run_id)
            clear_shared_graph(driver)
        except FraudgraphError as error:
            console.print(f"[yellow]warning:[/] clean-up of {run_id} incomplete: {error}")
        driver.close()
    return {
        "backfill_events": backfill.records,
        "backfill_s": round(backfill.seconds, 1),
        "backfill_events_per_s": round(backfill.records_per_s, 1),
        "backfill_rows_written": backfill.rows_written,
        "stream_events": worker.events,
        "stream_events_per_s": round(worker.events_per_s, 1),
        "stream_rate_window": f"{worker.window}: {worker.events:,} in {worker.seconds:.1f}s",
        "backfill_over_stream": round(backfill.records_per_s / worker.events_per_s, 2)
        if worker.events_per_s
        else 0.0,
    }


def measure_spark(
    settings: Settings,
    *,
    edges: int,
    scales: list[int],
    events: int,
    master: str,
    partitions: int,
    seed: int,
    console: Console,
) -> dict[str, Any]:
    options = SparkOptions(master=master, shuffle_partitions=partitions)
    session, started_s = _timed(lambda: spark_session(options))
    console.print(f"Spark {session.version} on {master}, UI {ui_address(session)}")
    figures: dict[str, Any] = {
        "master": master,
        "spark": session.version,
        "session_start_s": round(started_s, 1),
        "shuffle_partitions": partitions,
    }
    figures |= measure_rings(session, edges, scales, seed)
    if events:
        figures |= measure_backfill(session, settings, events, partitions, console)
    return figures
