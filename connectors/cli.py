"""`fraudgraph connectors apply | status`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Apply and inspect the Debezium connectors declared in connectors/.")
