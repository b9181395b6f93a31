"""`fraudgraph analyze …`: run detection on demand."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from fraudgraph.detection.offline import Order, replay
from fraudgraph.detection.settings import load_detection_config
from fraudgraph.errors import ConfigError, RetryableError
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map, report_table
from fraudgraph.evaluation.scoring import report_to_json, score
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.observability.logs import get_logger
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.options import make_options

app = typer.Typer(
    help="Fraud analytics on demand (clusters, offline replay).", no_args_is_help=True
)
_out = Console()
log = get_logger(__name__)


@app.command("replay")
def replay_simulated(
    *,
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 10_000,
    days: Annotated[int, typer.Option(help="Simulated days.")] = 30,
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 1,
    fraud: Annotated[
        list[str] | None, typer.Option(help="Typology mix, as for `fraudgraph simulate`.")
    ] = None,
    order: Annotated[str, typer.Option(help="snapshot (table by table) or time.")] = "snapshot",
    detectors_file: Annotated[Path | None, typer.Option(help="Detectors YAML.")] = None,
    alerts_out: Annotated[Path | None, typer.Option(help="Write the alerts (JSONL).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the evaluation report (JSON).")] = None,
) -> None:
    """Detect over a simulated bank in memory (no services) and score against its labels."""
    if order not in ("snapshot", "time"):
        raise ConfigError("--order must be snapshot or time")
    config = load_detection_config(detectors_file)
    began = time.perf_counter()
    bank = generate(make_options(seed=seed, customers=customers, days=days, fraud=fraud))
    generated = time.perf_counter() - began
    # Offline only: any fixed key gives the same structure as the worker's key would.
    hasher = PiiHasher("offline-replay-key-not-a-secret")
    began = time.perf_counter()
    alerts = replay(bank.tables, default_mapping(), hasher, config, order=_order(order))
    detected = time.perf_counter() - began
    report = score(bank.labels, alerts, load_rule_map(DEFAULT_RULE_MAP))
    _out.print(report_table(report))
    _out.print(
        f"{bank.total_rows():,} rows generated in {generated:.1f}s; "
        f"{len(alerts):,} alerts in {detected:.1f}s"
    )
    if alerts_out is not None:
        alerts_out.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    if out is not None:
        out.write_bytes(orjson.dumps(report_to_json(report), option=orjson.OPT_INDENT_2))


def _order(value: str) -> Order:
    return "time" if value == "time" else "snapshot"


@app.command("clusters")
def clusters(
    *,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the rings (JSON).")] = None,
    produce: Annotated[
        bool, typer.Option("--produce", help="Publish rings as cluster alerts (ring_community).")
    ] = False,
    min_size: Annotated[int, typer.Option(min=2, help="Customers a ring needs.")] = 3,
    min_score: Annotated[float, typer.Option(help="Score a ring needs to be produced.")] = 0.6,
    max_holders: Annotated[
        int, typer.Option(help="Identifiers on more customers are placeholders, skipped.")
    ] = 25,
    max_device_users: Annotated[
        int, typer.Option(help="Devices used by more customers are shared machines, skipped.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Louvain seed (same graph, same rings).")] = 7,
    resolution: Annotated[float, typer.Option(help="Louvain resolution (>1: smaller).")] = 1.0,
    limit: Annotated[int, typer.Option(help="Rings shown in the table.")] = 30,
    every: Annotated[
        float | None,
        typer.Option(
            min=10,
            help="Run again every this many seconds until stopped (SIGTERM/Ctrl-C); "
            "a run that cannot reach Neo4j or Kafka is logged and the next one tried.",
        ),
    ] = None,
) -> None:
    """Rings in the whole graph: Louvain communities of customers sharing identifiers."""
    from fraudgraph.detection import clusters as analysis  # noqa: PLC0415 - networkx only when asked
    from fraudgraph.graph.connection import open_driver  # noqa: PLC0415
    from fraudgraph.settings import get_settings  # noqa: PLC0415

    settings = get_settings()
    published: set[str] = set()  # ring alerts sent by earlier runs of `--every`

    def run_once() -> None:
        began = time.perf_counter()
        with open_driver(settings) as driver:
            found = analysis.fetch_suspicious_links(
                driver, max_holders=max_holders, max_device_users=max_device_users
            )
        fetched = time.perf_counter() - began
        began = time.perf_counter()
        rings = analysis.find_rings(
            found.links, found.reported, min_size=min_size, seed=seed, resolution=resolution
        )
        analysed = time.perf_counter() - began
        _out.print(analysis.rings_table(rings, limit))
        _out.print(
            f"{len(found.links):,} links {analysis.links_by_kind(found.links)} read in "
            f"{fetched:.1f}s; {len(rings):,} rings in {analysed:.1f}s"
        )
        if json_out is not None:
            json_out.write_bytes(
                orjson.dumps({"rings": analysis.ring_rows(rings)}, option=orjson.OPT_INDENT_2)
            )
        if produce:
            findings = analysis.ring_findings(rings, found.accounts_of, min_score=min_score)
            sent = analysis.produce_ring_alerts(
                settings, findings, time.time_ns() // 1_000_000, published
            )
            published.update(sent)
            _out.print(f"{len(sent)} cluster alerts produced to {settings.alerts_topic}")

    if every is None:
        run_once()
        return
    run_periodically(run_once, every)


def run_periodically(run_once: Callable[[], None], every: float) -> None:
    """`run_once` now and every `every` seconds until SIGTERM or Ctrl-C.

    A run that fails for want of a service is logged and the next one tried: a
    periodic job must outlive a Neo4j restart. Ring alert ids are stable, so a run
    that repeats rings already sent produces the same ids (consumers dedupe).
    """
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.is_set():
            try:
                run_once()
            except RetryableError as error:
                log.warning("cluster_run_failed", error=str(error)[:300], retry_in_s=every)
            stopping.wait(every)
    except KeyboardInterrupt:
        return
