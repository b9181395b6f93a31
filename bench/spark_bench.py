"""Spark against a single machine: `fraudgraph bench spark`.

Two measurements in one run, on the same machine (local[N]):

1. **Rings**: at 1x, 2x, 4x a synthetic bank-like identity graph (`bench/clusters.py`):
   connected components over every link (Spark: `spark/components.py`; networkx:
   building the graph + `clusters.components`) and ring scoring over the focused links
   (Spark: components + per-component `find_rings`; networkx: `find_rings`); both
   must find the same components and rings.
2. **Backfill vs streaming**: the same preloaded change events (bench/preload.py,
   topics unique to the run) written into an empty graph by `spark backfill` and by
   the stream worker (bench/worker_run.py), events per second each, in a Neo4j of the
   benchmark's own (nobody else writes to it meanwhile; the shared graph is left alone).

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

from fraudgraph.bench.clusters import synthetic_identity_bank
from fraudgraph.bench.observe import GroupProgress
from fraudgraph.bench.preload import PARTITIONS, delete_run_topics, preload
from fraudgraph.bench.spark_neo4j import own_neo4j
from fraudgraph.bench.worker_run import run_worker, worker_environment
from fraudgraph.detection import clusters
from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.admin import clear_graph
from fraudgraph.graph.connection import graph_writer, open_driver
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.spark.backfill import run_backfill
from fraudgraph.spark.components import connected_components
from fraudgraph.spark.options import SparkOptions
from fraudgraph.spark.rings import RingSettings, rings_from_links
from fraudgraph.spark.session import spark_session, ui_address
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack


def _timed(action: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def measure_rings(spark: SparkSession, edges: int, scales: list[int], seed: int) -> dict[str, Any]:
    """Components over every link and rings over the focused links, Spark vs networkx."""
    figures: dict[str, Any] = {}
    for scale in scales:
        bank = synthetic_identity_bank(edges * scale, seed=seed)
        every = [k for k in bank.links if k.a != k.b]
        focused = clusters.focus(every)
        graph, nx_build_s = _timed(lambda ls=every: clusters.build_graph(ls))
        nx_components, nx_components_s = _timed(lambda g=graph: clusters.components(g, 1))
        nx_rings, nx_rings_s = _timed(lambda ls=focused: clusters.find_rings(ls))
        schema = "a long, b long, kind string, amount double"
        all_links = spark.createDataFrame([(k.a, k.b, k.kind, k.amount) for k in every], schema)
        focused_links = spark.createDataFrame(
            [(k.a, k.b, k.kind, k.amount) for k in focused], schema
        )
        all_links, focused_links = all_links.cache(), focused_links.cache()
        all_links.count(), focused_links.count()  # loaded before the clock starts
        spark_components, spark_components_s = _timed(
            lambda f=all_links: connected_components(f).cache()
        )
        spark_component_count = spark_components.select("component").distinct().count()
        reported = spark.createDataFrame([], "customer_id long")
        analysis, spark_rings_s = _timed(
            lambda f=focused_links, r=reported: rings_from_links(f, r, RingSettings())
        )
        all_links.unpersist()
        focused_links.unpersist()
        spark_components.unpersist()
        nx_s = nx_build_s + nx_components_s + nx_rings_s
        spark_s = spark_components_s + spark_rings_s
        figures |= {
            f"x{scale}_links": len(every),
            f"x{scale}_customers": graph.number_of_nodes(),
            f"x{scale}_components": len(nx_components),
            f"x{scale}_same_components": spark_component_count == len(nx_components),
            f"x{scale}_focused_links": len(focused),
            f"x{scale}_networkx_build_and_components_s": round(nx_build_s + nx_components_s, 2),
            f"x{scale}_networkx_rings_s": round(nx_rings_s, 2),
            f"x{scale}_spark_components_s": round(spark_components_s, 2),
            f"x{scale}_spark_rings_s": round(spark_rings_s, 2),
            f"x{scale}_spark_over_networkx": round(spark_s / nx_s, 2) if nx_s else 0.0,
            f"x{scale}_rings": len(nx_rings),
            f"x{scale}_same_rings": [r.members for r in analysis.rings]
            == [r.members for r in nx_rings],
        }
    return figures


def measure_backfill(
    spark: SparkSession,
    settings: Settings,
    events: int,
    partitions: int,
    console: Console,
    *,
    writers: int = 1,
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
    driver = open_driver(local)
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
        graph_writer(local, driver, mapping).setup()
        # The stream first: a fresh Neo4j is slow until its queries are compiled and
        # its JIT is warm; the worker's rate window skips its first batch, and the
        # backfill then writes into the warm database.
        console.print("streaming worker …")
        partitions_of = [(topic, p) for topic in loaded.topics for p in range(PARTITIONS)]
        progress = GroupProgress(settings.kafka_bootstrap, local.worker_group, partitions_of)
        progress.start()
        with tempfile.TemporaryDirectory(prefix=run_id) as scratch:
            try:
                worker = run_worker(
                    worker_environment(
                        local.as_environment(),
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
        clear_graph(driver)
        console.print("backfill (Spark) …")
        backfill = run_backfill(
            spark, local, partitions=partitions, writers=writers, handover=False
        )
    finally:
        try:
            delete_run_topics(settings.kafka_bootstrap, run_id)
        except FraudgraphError as error:
            console.print(f"[yellow]warning:[/] clean-up of {run_id} incomplete: {error}")
        driver.close()
    return {
        "backfill_writers": writers,
        "backfill_mode": backfill.mode,
        "backfill_events": backfill.records,
        "backfill_s": round(backfill.seconds, 1),
        "backfill_events_per_s": round(backfill.records_per_s, 1),
        "backfill_rows_written": backfill.rows_written,
        **{f"backfill_{stage}_s": round(t, 1) for stage, t in backfill.stage_seconds.items()},
        "backfill_row_writes_per_s": round(
            backfill.rows_written / backfill.stage_seconds["rows"], 1
        )
        if backfill.stage_seconds.get("rows")
        else 0.0,
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
    writers: int = 1,
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
        console.print("starting a Neo4j of the benchmark's own …")
        with own_neo4j(settings, Stack(StackConfig())) as own:
            figures |= measure_backfill(session, own, events, partitions, console, writers=writers)
    return figures
