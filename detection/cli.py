"""`fraudgraph analyze …`: run detection on demand."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from detection.offline import Order, replay
from detection.settings import load_detection_config
from evaluation.cli import DEFAULT_RULE_MAP, load_rule_map, report_table
from evaluation.scoring import report_to_json, score
from fraudgraph.errors import ConfigError
from graph.mapping import default_mapping
from graph.pii import PiiHasher
from simulator.generator import generate
from simulator.options import make_options

app = typer.Typer(
    help="Fraud analytics on demand (clusters, offline replay).", no_args_is_help=True
)
_out = Console()


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
