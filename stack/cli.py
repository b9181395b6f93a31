"""`fraudgraph stack up | down | status | logs | env`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import psycopg
import typer
from rich.console import Console, Group
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from fraudgraph.stack.client_env import client_environment, export_lines
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.errors import StackError
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.pg_bootstrap import Connection, bootstrap_bank
from fraudgraph.stack.service import ServiceStatus
from fraudgraph.stack.waiting import wait_for
from fraudgraph.tables import Fitting, compact_table

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
    # One line per service when healthy; meanwhile a spinner with the current stage and
    # its elapsed time, so no wait (downloads, a JVM starting) is silent.
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=_console,
        transient=True,  # gone once done: the lines per service are the record
    ) as progress:
        task = progress.add_task("starting the stack", total=None)

        def stage(text: str) -> None:
            progress.reset(task, description=text)

        stack.up(service, report=progress.console.print, stage=stage)
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
    Console().print(status_table(_stack().status()))


def status_table(rows: Sequence[ServiceStatus]) -> Fitting:
    """One line a service on a wide console. In 80 columns the details (URLs, paths of
    secrets) would be folded into a narrow last column, so they get a table of their
    own under the status, nearly the whole width."""
    full = Table("service", "pid", "ports", "health", "memory", "detail")
    short = Table("service", "pid", "ports", "health", "memory")
    details = compact_table("service", Column("detail", overflow="fold"))
    for row in rows:
        health = (
            "[green]healthy[/]"
            if row.healthy
            else ("[red]unhealthy[/]" if row.pid else "[dim]stopped[/]")
        )
        cells = (
            row.name,
            str(row.pid or "-"),
            ",".join(map(str, row.ports)),
            health,
            f"{row.rss_mb:.0f} MB" if row.pid else "-",
        )
        full.add_row(*cells, row.detail)
        short.add_row(*cells)
        if row.detail:
            details.add_row(row.name, row.detail)
    return Fitting(full, Group(short, details) if details.row_count else short)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="A service `stack status` lists, e.g. kafka.")],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 50,
) -> None:
    """Print the last lines of a service's log."""
    print(_stack().service(service).process.log_tail(lines))


@app.command()
def env() -> None:
    """Shell `export` lines for every client setting: eval "$(fraudgraph stack env)"."""
    stack = _stack()
    print(export_lines(client_environment(stack.config, stack.secrets)), end="")


@app.command("bootstrap-db")
def bootstrap_db(
    admin_dsn: Annotated[
        str, typer.Option(envvar="FRAUDGRAPH_PG_ADMIN_DSN", help="Superuser DSN of the server.")
    ],
    app_password: Annotated[str, typer.Option(envvar="FRAUDGRAPH_PG_PASSWORD", hidden=True)],
    cdc_password: Annotated[str, typer.Option(envvar="FRAUDGRAPH_CDC_PASSWORD", hidden=True)],
) -> None:
    """Prepare an external PostgreSQL (e.g. docker-compose's) exactly as the native stack does."""

    def connect(dbname: str) -> Connection:
        try:
            return psycopg.connect(admin_dsn, dbname=dbname, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as error:
            raise StackError(f"cannot connect to PostgreSQL: {error}".strip()) from error

    def answers() -> bool:
        with connect("postgres"):
            return True

    wait_for(answers, what="PostgreSQL", timeout=120)
    bootstrap_bank(connect, app_password=app_password, cdc_password=cdc_password)
    _console.print("bank database ready: roles, contract schema, CDC grants, publication")
