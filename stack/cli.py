"""`fraudgraph stack up | down | status | logs | env`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stack.client_env import client_environment, export_lines
from stack.config import StackConfig
from stack.manager import Stack

app = typer.Typer(help="Run the native stack: PostgreSQL, Kafka, Kafka Connect, Neo4j.")
_console = Console(stderr=True)


def _stack() -> Stack:
    return Stack(StackConfig())


@app.command()
def up(
    service: Annotated[
        list[str] | None, typer.Argument(help="Only these services (default: all).")
    ] = None,
) -> None:
    """Install what is missing, start every service and wait until each is healthy."""
    stack = _stack()
    stack.up(service, report=_console.print)
    _console.print(
        f"state: {stack.config.state_dir}  ·  `fraudgraph stack env` for client settings"
    )


@app.command()
def down(
    wipe: Annotated[
        bool, typer.Option("--wipe", help="Also delete data, logs and secrets.")
    ] = False,
) -> None:
    """Stop every service cleanly; data is kept unless --wipe."""
    _stack().down(report=_console.print, wipe=wipe)


@app.command()
def status() -> None:
    """Service, pid, ports, health and memory of each service."""
    table = Table("service", "pid", "ports", "health", "memory", "detail")
    for row in _stack().status():
        health = (
            "[green]healthy[/]"
            if row.healthy
            else ("[red]unhealthy[/]" if row.pid else "[dim]stopped[/]")
        )
        table.add_row(
            row.name,
            str(row.pid or "-"),
            ",".join(map(str, row.ports)),
            health,
            f"{row.rss_mb:.0f} MB" if row.pid else "-",
            row.detail,
        )
    Console().print(table)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="postgres, kafka, connect or neo4j.")],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 50,
) -> None:
    """Print the last lines of a service's log."""
    print(_stack().service(service).process.log_tail(lines))


@app.command()
def env() -> None:
    """Shell `export` lines for every client setting: eval "$(fraudgraph stack env)"."""
    stack = _stack()
    print(export_lines(client_environment(stack.config, stack.secrets)), end="")
