"""`fraudgraph spark …`: the Spark jobs (backfill, analyze), local or on a cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from fraudgraph.errors import ConfigError
from fraudgraph.extras import require
from fraudgraph.settings import get_settings

app = typer.Typer(
    help="The same analytics on Apache Spark: backfill the graph, features and rings at scale.",
    no_args_is_help=True,
)
_out = Console()

Master = Annotated[
    str | None,
    typer.Option(help="local[N], spark://host:port, yarn, k8s://… (FRAUDGRAPH_SPARK_MASTER)."),
]
Memory = Annotated[str | None, typer.Option(help="e.g. 2g (FRAUDGRAPH_SPARK_DRIVER_MEMORY).")]
ExecutorMemory = Annotated[
    str | None, typer.Option(help="e.g. 4g (FRAUDGRAPH_SPARK_EXECUTOR_MEMORY).")
]
Partitions = Annotated[
    int | None,
    typer.Option(min=1, help="Shuffle partitions (FRAUDGRAPH_SPARK_SHUFFLE_PARTITIONS)."),
]
Checkpoints = Annotated[
    Path | None, typer.Option(help="Checkpoint folder (FRAUDGRAPH_SPARK_CHECKPOINT_DIR).")
]


def _session(
    master: str | None,
    driver_memory: str | None,
    executor_memory: str | None,
    partitions: int | None,
    checkpoint_dir: Path | None,
) -> Any:
    from pydantic import ValidationError  # noqa: PLC0415

    require("pyspark", extra="spark")
    from fraudgraph.spark.options import SparkOptions  # noqa: PLC0415
    from fraudgraph.spark.session import spark_session, ui_address  # noqa: PLC0415

    given: dict[str, Any] = {
        "master": master,
        "driver_memory": driver_memory,
        "executor_memory": executor_memory,
        "shuffle_partitions": partitions,
        "checkpoint_dir": checkpoint_dir,
    }
    try:
        options = SparkOptions(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0])
        wanted = "a size such as 512m or 4g" if name.endswith("memory") else first["msg"]
        raise ConfigError(f"spark option {name}: {first['input']!r} is not {wanted}") from None
    _out.print(f"starting Spark ({options.master}, driver {options.driver_memory}) …")
    session = spark_session(options)
    _out.print(f"Spark UI: [link]{ui_address(session)}[/link]")
    return session, options


@app.command("backfill")
def backfill(
    *,
    handover: Annotated[
        bool,
        typer.Option(help="Commit the covered offsets for the worker's group afterwards."),
    ] = True,
    writers: Annotated[
        int, typer.Option(min=1, help="Concurrent Neo4j writer tasks (see spark/README.md).")
    ] = 1,
    master: Master = None,
    driver_memory: Memory = None,
    executor_memory: ExecutorMemory = None,
    partitions: Partitions = None,
    checkpoint_dir: Checkpoints = None,
) -> None:
    """Load everything the CDC topics hold into Neo4j, then hand over to the worker."""
    require("pyspark", extra="spark")
    from fraudgraph.spark.backfill import run_backfill  # noqa: PLC0415 - pyspark only when asked
    from fraudgraph.spark.progress import spark_progress  # noqa: PLC0415

    settings = get_settings()
    spark, options = _session(master, driver_memory, executor_memory, partitions, checkpoint_dir)
    with spark_progress(spark, _out, "backfill into Neo4j"):
        result = run_backfill(
            spark,
            settings,
            partitions=options.shuffle_partitions,
            writers=writers,
            handover=handover,
        )
    _out.print(
        f"{result.records:,} records ({result.changes:,} changes) -> {result.rows_written:,} rows"
        f" in {result.seconds:.1f}s "
        f"({result.records_per_s:,.0f} records/s); {result.dead_letters} dead letters; "
        + (
            "loaded into an empty graph"
            if result.mode == "load"
            else "graph not empty: written with the stream's guarded statements"
        )
    )
    for table, lsn in sorted(result.truncates.items()):
        # Loud: every row of the table up to this LSN was left out of the graph.
        _out.print(f"truncate of {table} applied: rows changed at or before LSN {lsn} left out")
    if result.handed_over:
        _out.print(
            f"worker group {settings.worker_group} starts at: "
            + ", ".join(f"{tp}={o}" for tp, o in result.handed_over.items())
        )


@app.command("analyze")
def analyze(
    *,
    source: Annotated[str, typer.Option(help="kafka (CDC topics) or postgres (JDBC).")] = "kafka",
    window_days: Annotated[float, typer.Option(min=0.01, help="Feature window (days).")] = 30.0,
    until: Annotated[
        int | None, typer.Option(help="Window end, epoch ms (default: newest payment).")
    ] = None,
    min_score: Annotated[float, typer.Option(help="Score a ring needs to be alerted.")] = 0.6,
    write: Annotated[bool, typer.Option(help="Write rings and features to Neo4j.")] = True,
    produce: Annotated[bool, typer.Option(help="Publish rings as alerts.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write rings (JSON).")] = None,
    master: Master = None,
    driver_memory: Memory = None,
    executor_memory: ExecutorMemory = None,
    partitions: Partitions = None,
    checkpoint_dir: Checkpoints = None,
) -> None:
    """Per-account features over a window and rings (components, Louvain, scores)."""
    require("pyspark", extra="spark")
    from fraudgraph.detection.clusters import ring_rows, rings_table  # noqa: PLC0415
    from fraudgraph.graph.connection import open_driver  # noqa: PLC0415
    from fraudgraph.spark.analysis import run_analysis  # noqa: PLC0415
    from fraudgraph.spark.history import Source  # noqa: PLC0415
    from fraudgraph.spark.neo4j_target import GraphTarget  # noqa: PLC0415
    from fraudgraph.spark.progress import spark_progress  # noqa: PLC0415
    from fraudgraph.spark.results import publish_alerts, ring_alerts, write_features, write_rings  # noqa: PLC0415

    if source not in ("kafka", "postgres"):
        raise ConfigError("--source must be kafka or postgres")
    settings = get_settings()
    spark, _ = _session(master, driver_memory, executor_memory, partitions, checkpoint_dir)
    with spark_progress(spark, _out, f"features and rings from {source}"):
        result = run_analysis(spark, settings, Source(source), window_days=window_days, until=until)
    rings = result.rings.rings
    _out.print(rings_table(rings))
    _out.print(
        f"{result.features.count():,} accounts with features over "
        f"[{result.window.since}, {result.window.until}]; "
        + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    )
    now_ms = int(time.time() * 1000)
    if write:
        with spark_progress(spark, _out, "write rings and features to Neo4j"):
            with open_driver(settings) as driver:
                write_rings(driver, rings, now_ms)
            write_features(result.features, GraphTarget.from_settings(settings), result.window)
    if produce:
        alerts = ring_alerts(rings, result.rings.accounts_of, now_ms, min_score)
        publish_alerts(settings, alerts)
        _out.print(f"{len(alerts)} ring alerts published to {settings.alerts_topic}")
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(ring_rows(rings), option=orjson.OPT_INDENT_2))
