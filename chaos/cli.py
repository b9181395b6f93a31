"""`fraudgraph chaos SCENARIO [--json FILE]`: break the running stack under load, then judge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fraudgraph.bench.report import machine
from fraudgraph.chaos.harness import run_scenario
from fraudgraph.chaos.options import ChaosOptions
from fraudgraph.chaos.scenarios import SCENARIOS
from fraudgraph.errors import ConfigError
from fraudgraph.settings import get_settings
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack

_console = Console(stderr=True)
SUMMARY = (
    "events_per_s", "recovery_s", "events_lost", "duplicate_effects", "alerts_missing",
    "alerts_duplicated", "webhooks_missing", "webhooks_duplicated", "deadletters_unexpected",
    "deadletters_missing", "alerts_order_dependent", "alerts_revised", "checksum_equal", "ok",
)  # fmt: skip


def chaos(  # noqa: PLR0917 - typer maps each option to a parameter
    scenario: Annotated[str, typer.Argument(help=f"One of: {', '.join(SCENARIOS)}.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures and verdict here.")
    ] = None,
    rate: Annotated[float, typer.Option(min=1, help="Live load, transactions per second.")] = 200.0,
    duration: Annotated[
        float, typer.Option(min=10, help="Seconds of live load (at least what the fault needs).")
    ] = 150.0,
    outage: Annotated[
        float | None, typer.Option(min=1, help="Seconds the fault lasts (default: the scenario's).")
    ] = None,
    customers: Annotated[int, typer.Option(min=20, help="Customers of the simulated bank.")] = 300,
    seed: Annotated[int, typer.Option(help="Simulator seed (and fault timing).")] = 1,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the run's topics and connector.")
    ] = False,
) -> None:
    """Break the running stack under a live load and compare with a clean reference run.

    Exits 1 if anything was lost or duplicated in effect.
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    options = ChaosOptions(
        rate=rate,
        duration=duration,
        outage=outage,
        customers=customers,
        seed=seed,
        keep_topics=keep,
    )
    result = run_scenario(
        SCENARIOS[scenario](), get_settings(), Stack(StackConfig()), options, _console
    )
    _print(result)
    if json_out is not None:
        document = {**result, "machine": machine()}
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        _console.print(f"written to {json_out}")
    if not result["ok"]:
        raise typer.Exit(1)


def _print(result: dict[str, Any]) -> None:
    table = Table(title=f"chaos {result['scenario']}: {result['fault']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in SUMMARY:
        table.add_row(key, str(result[key]))
    Console().print(table)
    for key, value in result["details"].items():
        if value:
            _console.print(f"  {key}: {value}")
    for key, value in result["scenario_checks"].items():
        if value:
            _console.print(f"  {key}: {value}")
