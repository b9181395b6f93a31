"""`fraudgraph connectors apply | status`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fraudgraph.connectors.apply import apply_connector, parse_status
from fraudgraph.connectors.definitions import load_definition, load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.settings import get_settings

app = typer.Typer(help="Apply and inspect the Debezium connectors declared in connectors/.")
_console = Console(stderr=True)


@app.command()
def apply(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Definition files (default: connectors/*.json).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for RUNNING.")] = 120.0,
) -> None:
    """PUT each definition through Connect's REST API and wait until it runs."""
    definitions = [load_definition(f) for f in files] if files else load_definitions()
    client = ConnectClient(get_settings().connect_url)
    for definition in definitions:
        result = apply_connector(client, definition, timeout=timeout)
        tasks = ", ".join(f"task {i} {s}" for i, s in result.state.tasks)
        _console.print(f"{result.name}: {result.action}, {result.state.state} ({tasks})")


@app.command()
def status() -> None:
    """State of every connector and task on the Connect cluster."""
    client = ConnectClient(get_settings().connect_url)
    table = Table("connector", "state", "tasks", "worker", "error")
    for name in client.list_connectors():
        state = parse_status(name, client.status(name))
        table.add_row(
            name,
            state.state,
            ", ".join(f"{i}:{s}" for i, s in state.tasks) or "-",
            state.worker,
            (state.trace or "").splitlines()[0] if state.trace else "",
        )
    Console().print(table)
