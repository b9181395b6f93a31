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

from fraudgraph.detection.offline import Order
from fraudgraph.detection.quality import BankRun, replay_bank, replay_matrix
from fraudgraph.detection.settings import (
    DetectionConfig,
    load_detection_config,
    with_model_file,
)
from fraudgraph.errors import ConfigError, RetryableError
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map, report_table
from fraudgraph.evaluation.matrix import ablation_table, matrix_table, matrix_to_json
from fraudgraph.evaluation.scoring import RuleMap, report_to_json
from fraudgraph.evaluation.seeds import Split, parse_split
from fraudgraph.observability.logs import get_logger
from fraudgraph.simulator.families import DEFAULT_GENERATOR, FAMILIES

app = typer.Typer(
    help="Fraud analytics on demand (clusters, offline replay).", no_args_is_help=True
)
_out = Console()
_err = Console(stderr=True)  # progress, so stdout is the matrix alone
log = get_logger(__name__)


@app.command("replay")
def replay_simulated(
    *,
    customers: Annotated[
        int | None,
        typer.Option(help="Simulated customers per bank (default 10,000; --matrix 2,000)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Simulated days.")] = 30,
    seed: Annotated[int, typer.Option(help="Simulator seed (one bank).")] = 1,
    generator: Annotated[
        str, typer.Option(help="Generator family of the one bank (classic, amlsim).")
    ] = DEFAULT_GENERATOR,
    fraud: Annotated[
        list[str] | None, typer.Option(help="Typology mix, as for `fraudgraph simulate`.")
    ] = None,
    order: Annotated[str, typer.Option(help="snapshot (table by table) or time.")] = "snapshot",
    detectors_file: Annotated[Path | None, typer.Option(help="Detectors YAML.")] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="The learned scorer's model file (default: the packaged one)."),
    ] = None,
    alerts_out: Annotated[Path | None, typer.Option(help="Write the alerts (JSONL).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the evaluation report (JSON).")] = None,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            help="Every generator family on every seed of --split (evaluation/seeds.py): "
            "the typology x generator matrix. --seed, --generator, --fraud are not used.",
        ),
    ] = False,
    split: Annotated[
        str, typer.Option(help="With --matrix: test (frozen, reported) or tuning seeds.")
    ] = "test",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="With --matrix: write the matrix (JSON).")
    ] = None,
) -> None:
    """Detect over a simulated bank in memory (no services) and score against its labels."""
    if order not in ("snapshot", "time"):
        raise ConfigError("--order must be snapshot or time")
    config = load_detection_config(detectors_file)
    if model is not None:
        config = with_model_file(config, model)
    rule_map = load_rule_map(DEFAULT_RULE_MAP)
    if matrix:
        _replay_matrix(
            customers=customers or MATRIX_CUSTOMERS,
            days=days,
            split=parse_split(split),
            config=config,
            rule_map=rule_map,
            detectors_file=detectors_file,
            model_file=model,
            json_out=json_out,
        )
        return
    run = replay_bank(
        seed=seed,
        customers=customers or 10_000,
        days=days,
        config=config,
        rule_map=rule_map,
        generator=generator,
        fraud=fraud,
        order=_order(order),
    )
    _out.print(report_table(run.report))
    _out.print(
        f"{run.rows:,} rows generated in {run.generate_s:.1f}s; "
        f"{len(run.alerts):,} alerts in {run.detect_s:.1f}s"
    )
    if alerts_out is not None:
        alerts_out.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in run.alerts))
    if out is not None:
        out.write_bytes(orjson.dumps(report_to_json(run.report), option=orjson.OPT_INDENT_2))


# Ten banks (five test seeds, two families) in a few minutes on two cores: about 15 s a
# bank at 2,000 customers x 30 days.
MATRIX_CUSTOMERS = 2_000


def _order(value: str) -> Order:
    return "time" if value == "time" else "snapshot"


def _replay_matrix(
    *,
    customers: int,
    days: int,
    split: Split,
    config: DetectionConfig,
    rule_map: RuleMap,
    detectors_file: Path | None,
    model_file: Path | None,
    json_out: Path | None,
) -> None:
    began = time.perf_counter()

    def progress(run: BankRun) -> None:
        _err.print(
            f"{run.generator} seed {run.seed}: {run.rows:,} rows, {len(run.alerts):,} alerts "
            f"in {run.generate_s + run.detect_s:.1f}s",
            highlight=False,
        )

    result, variants = replay_matrix(
        generators=list(FAMILIES),
        split=split,
        customers=customers,
        days=days,
        config=config,
        rule_map=rule_map,
        detectors_file=detectors_file,
        model_file=model_file,
        progress=progress,
    )
    _out.print(result.header, highlight=False, soft_wrap=True)
    _out.print(matrix_table(result))
    _out.print(ablation_table(variants))
    _out.print(f"{time.perf_counter() - began:.0f}s in all", highlight=False)
    if json_out is not None:
        document = matrix_to_json(result)
        document["ablation"] = {name: matrix_to_json(m) for name, m in variants.items()}
        json_out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


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
