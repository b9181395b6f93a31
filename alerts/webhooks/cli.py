"""`fraudgraph webhooks …`: deliver alerts to endpoints, or receive them for a demo."""

from __future__ import annotations

import typer

app = typer.Typer(help="Signed alert webhooks (Standard Webhooks).", no_args_is_help=True)
