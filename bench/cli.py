"""`fraudgraph bench …`: measured figures, printed and written as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fraudgraph.bench.alert_latency import measure_alert_latency
from fraudgraph.bench.cdc_latency import measure_cdc_latency
from fraudgraph.bench.ingest import IngestOptions, measure_ingest
from fraudgraph.bench.report import publish
from fraudgraph.bench.stack_startup import measure_stack_startup
from fraudgraph.extras import require
from fraudgraph.settings import get_settings

app = typer.Typer(help="Benchmarks; each prints a table and writes JSON with --json.")
_console = Console()

JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the figures to this file.")]


@app.command("cdc-latency")
def cdc_latency(
    samples: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    json_out: JsonOut = None,
) -> None:
    """Time from a committed insert to its change event on Kafka."""
    publish("cdc-latency", measure_cdc_latency(get_settings(), samples), json_out, _console)


@app.command("stack")
def stack_startup(json_out: JsonOut = None) -> None:
    """Cold install (empty Maven repo), warm start and idle memory, on ports shifted by 20000."""
    publish("stack", measure_stack_startup(), json_out, _console)


@app.command("ingest")
def ingest(
    *,
    events: Annotated[
        int | None, typer.Option(help="Change events to preload (default 500,000; --short 5,000).")
    ] = None,
    baseline_events: Annotated[
        int | None,
        typer.Option(help="Events the per-event baseline writes (default 20,000; --short 500)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Worker events per graph transaction (default: settings).")
    ] = None,
    short: Annotated[bool, typer.Option("--short", help="A small run for tests.")] = False,
    keep_graph: Annotated[
        bool, typer.Option("--keep-graph", help="Leave the worker's graph in Neo4j afterwards.")
    ] = False,
    profile_out: Annotated[
        Path | None, typer.Option(help="Keep py-spy's raw profile of the worker here.")
    ] = None,
    compare_tracing: Annotated[
        bool,
        typer.Option(
            "--compare-tracing", help="Run the worker again with tracing off: the overhead."
        ),
    ] = False,
    detection: Annotated[
        bool, typer.Option("--detection", help="Run the worker with detection on.")
    ] = False,
    detectors_file: Annotated[
        Path | None, typer.Option(help="With --detection: the worker's detectors file.")
    ] = None,
    compare_detectors: Annotated[
        Path | None,
        typer.Option(help="With --detection: run again with this detectors file, and compare."),
    ] = None,
    json_out: JsonOut = None,
) -> None:
    """Events/s from Kafka into Neo4j: the worker against a per-event baseline, plus peak RSS."""
    options = IngestOptions.resolve(
        short=short,
        events=events,
        baseline_events=baseline_events,
        batch_size=batch_size,
        keep_graph=keep_graph,
        profile_out=profile_out,
        compare_tracing=compare_tracing,
        detection=detection,
        detectors_file=detectors_file,
        compare_detectors=compare_detectors,
    )
    publish("ingest", measure_ingest(get_settings(), options, _console), json_out, _console)


@app.command("latency")
def latency(
    *,
    rate: Annotated[
        list[float] | None, typer.Option(help="Live transactions/s; repeat for several.")
    ] = None,
    seconds: Annotated[
        float,
        typer.Option(
            min=10,
            help="Live seconds per rate (at least 10: fraud cases start only while one "
            "can finish, within the live simulator's 8 s case horizon).",
        ),
    ] = 60,
    customers: Annotated[int, typer.Option(min=100, help="Bank size (bulk then live).")] = 2000,
    workers: Annotated[int, typer.Option(min=1, max=8, help="Workers in one group.")] = 1,
    warmup: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds of live load at the first rate before measuring, not reported: "
            "a stack just started spends its first minute compiling (Neo4j's JIT).",
        ),
    ] = 0,
    json_out: JsonOut = None,
) -> None:
    """Commit → alert on the topic, p50/p95/p99, under a live load (resets the demo bank)."""
    figures = measure_alert_latency(
        get_settings(),
        rates=rate or [1000.0, 5000.0],
        seconds=seconds,
        customers=customers,
        console=_console,
        workers=workers,
        warmup=warmup,
    )
    publish("latency", figures, json_out, _console)


@app.command("quality")
def quality(
    *,
    customers: Annotated[int, typer.Option(min=100, help="Bank size.")] = 10_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 30,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
    generator: Annotated[
        str, typer.Option(help="Generator family (classic, amlsim); see evaluation/seeds.py.")
    ] = "classic",
    json_out: JsonOut = None,
) -> None:
    """Precision/recall per typology of the live pipeline's alerts (resets the demo bank)."""
    from fraudgraph.bench.live_quality import measure_live_quality  # noqa: PLC0415

    figures = measure_live_quality(
        get_settings(),
        customers=customers,
        days=days,
        seed=seed,
        console=_console,
        generator=generator,
    )
    publish("quality", figures, json_out, _console)


@app.command("detectors")
def detectors(
    *,
    generator: Annotated[str, typer.Option(help="Generator family (classic, amlsim).")] = "amlsim",
    seed: Annotated[int, typer.Option(help="Simulator seed (a tuning seed).")] = 201,
    customers: Annotated[int, typer.Option(min=100, help="Bank size.")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 30,
    detectors_file: Annotated[
        Path | None, typer.Option(help="Detectors YAML (default: the packaged one).")
    ] = None,
    json_out: JsonOut = None,
) -> None:
    """CPU per event of each detector and of the learned scorer's halves (in memory)."""
    require("faker", extra="simulator")
    from fraudgraph.bench.detector_cost import measure_detector_cost  # noqa: PLC0415

    figures = measure_detector_cost(
        generator=generator,
        seed=seed,
        customers=customers,
        days=days,
        detectors_file=detectors_file,
    )
    publish("detectors", figures, json_out, _console)


@app.command("clusters")
def clusters(
    *,
    edges: Annotated[
        int, typer.Option(min=1000, help="Distinct customer pairs of the synthetic graph.")
    ] = 1_000_000,
    events: Annotated[
        int, typer.Option(min=3, help="Customer events timed on the incremental path.")
    ] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bank.")] = 1,
    json_out: JsonOut = None,
) -> None:
    """Ring analysis on a synthetic bank-like identity graph: components, Louvain and
    the stream's per-event component expansion (no services needed)."""
    from fraudgraph.bench.clusters import measure_clusters  # noqa: PLC0415 - networkx only when asked

    publish("clusters", measure_clusters(edges, events, seed), json_out, _console)


@app.command("spark")
def spark(
    *,
    edges: Annotated[
        int, typer.Option(min=1000, help="Customer pairs of the 1x synthetic identity graph.")
    ] = 50_000,
    scale: Annotated[
        list[int] | None, typer.Option(min=1, help="Multiples of --edges (default 1 2 4).")
    ] = None,
    events: Annotated[
        int, typer.Option(min=0, help="Change events for backfill vs stream (0: skip).")
    ] = 100_000,
    master: Annotated[str, typer.Option(help="Spark master.")] = "local[2]",
    partitions: Annotated[int, typer.Option(min=1, help="Shuffle partitions.")] = 8,
    writers: Annotated[int, typer.Option(min=1, max=16, help="Backfill writer tasks.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bank.")] = 1,
    json_out: JsonOut = None,
) -> None:
    """Spark vs networkx on components + ring scoring at 1x/2x/4x, and the Spark
    backfill rate into Neo4j vs the stream worker's (in a Neo4j of its own)."""
    require("pyspark", extra="spark")
    from fraudgraph.bench.spark_bench import measure_spark  # noqa: PLC0415 - pyspark only when asked

    figures = measure_spark(
        get_settings(),
        edges=edges,
        scales=scale or [1, 2, 4],
        events=events,
        master=master,
        partitions=partitions,
        writers=writers,
        seed=seed,
        console=_console,
    )
    publish("spark", figures, json_out, _console)
