"""`fraudgraph bench …`: measured figures, printed and written as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench.cdc_latency import measure_cdc_latency
from bench.report import publish
from bench.stack_startup import measure_stack_startup
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
