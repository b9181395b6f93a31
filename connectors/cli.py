"""`fraudgraph connectors apply | status`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Column, Table

from fraudgraph.connectors.apply import (
    ConnectorState,
    apply_connector,
    parse_status,
    validate_connector,
)
from fraudgraph.connectors.definitions import load_definition, load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.connectors.topics import create_connector_topics, topic_plan
from fraudgraph.settings import get_settings
from fraudgraph.tables import Fitting, compact_table

app = typer.Typer(help="Apply and inspect the Debezium connectors declared in connectors/.")
_console = Console(stderr=True)


@app.command()
def apply(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Definition files (default: connectors/*.json).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for RUNNING.")] = 120.0,
) -> None:
    """Create each connector's topics, PUT its config through Connect's REST API, wait until
    it runs."""
    definitions = [load_definition(f) for f in files] if files else load_definitions()
    settings = get_settings()
    # ${env:...} in a file resolve as in Connect's worker; the settings add the stack's values.
    environ = {**os.environ, **settings.as_environment()}
    for definition in definitions:
        topic_plan(definition, environ)  # a file that cannot be planned fails before any change
    client = ConnectClient(settings.connect_url)
    for definition in definitions:
        # Connect's verdict on the config first: a rejected connector leaves no topics.
        validate_connector(client, definition)
        # Before the connector exists: Connect would create a table's topic only at its
        # first change, and a worker started before that would not read it (topics.py).
        created = create_connector_topics(settings.kafka_bootstrap, definition, environ)
        if created:
            _console.print(f"{definition.name}: created topics {', '.join(created)}")
        with _console.status(f"{definition.name}: applying, waiting until its tasks run…"):
            result = apply_connector(client, definition, timeout=timeout)
        tasks = ", ".join(f"task {i} {s}" for i, s in result.state.tasks)
        _console.print(f"{result.name}: {result.action}, {result.state.state} ({tasks})")


@app.command()
def status() -> None:
    """State of every connector and task on the Connect cluster."""
    client = ConnectClient(get_settings().connect_url)
    states = [parse_status(name, client.status(name)) for name in client.list_connectors()]
    Console().print(connectors_table(states))


def connectors_table(states: Sequence[ConnectorState]) -> Fitting:
    """One line a connector on a wide console. In 80 columns an error (a Java exception:
    a long class name, then a sentence) would be folded into a narrow last column, so
    errors get a table of their own under the states, nearly the whole width."""
    full = Table("connector", "state", "tasks", "worker", "error")
    short = Table("connector", "state", "tasks", "worker")
    errors = compact_table("connector", Column("error", overflow="fold"))
    for state in states:
        cells = (
            state.name,
            state.state,
            ", ".join(f"{i}:{s}" for i, s in state.tasks) or "-",
            state.worker,
        )
        error = (state.trace or "").splitlines()[0] if state.trace else ""
        full.add_row(*cells, error)
        short.add_row(*cells)
        if error:
            errors.add_row(state.name, error)
    return Fitting(full, Group(short, errors) if errors.row_count else short)
