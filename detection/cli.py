"""`fraudgraph analyze …`: run detection on demand."""

from __future__ import annotations

import typer

app = typer.Typer(help="Fraud analytics on demand (clusters, offline replay).", no_args_is_help=True)
