"""The `fraudgraph` command: a thin face over the packages that do the work."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from fraudgraph.alerts.webhooks.cli import app as webhooks_app
from fraudgraph.bench.cli import app as bench_app
from fraudgraph.chaos.cli import chaos
from fraudgraph.connectors.cli import app as connectors_app
from fraudgraph.demo import run_demo
from fraudgraph.detection.cli import app as analyze_app
from fraudgraph.detection.learned.cli import app as model_app
from fraudgraph.errors import FraudgraphError
from fraudgraph.evaluation.cli import evaluate
from fraudgraph.exporter import exporter
from fraudgraph.observability.trace_cli import trace
from fraudgraph.settings import get_settings
from fraudgraph.simulator.cli import simulate
from fraudgraph.spark.cli import app as spark_app
from fraudgraph.stack.cli import app as stack_app
from fraudgraph.stream.cli import worker

app = typer.Typer(
    help="Streaming CDC and fraud-graph analytics for a bank's PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(connectors_app, name="connectors")
app.command("simulate")(simulate)
app.command("eval")(evaluate)
app.add_typer(bench_app, name="bench")
app.command("worker")(worker)
app.add_typer(analyze_app, name="analyze")
app.add_typer(model_app, name="model")
app.add_typer(webhooks_app, name="webhooks")
app.command("chaos")(chaos)
app.command("trace")(trace)
app.command("exporter")(exporter)
app.add_typer(spark_app, name="spark")

_stderr = Console(stderr=True)


@app.command()
def demo() -> None:
    """Commit a few rows and show their change events arriving on Kafka."""
    run_demo(get_settings(), Console())


def main() -> None:
    """Entry point: known errors become one line on stderr and exit code 2."""
    try:
        app()
    except FraudgraphError as error:
        # escape: an error's text is not markup ("fraudgraph[spark]" would vanish).
        _stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
