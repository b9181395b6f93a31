"""The graph half of `fraudgraph demo`: a small bank flows into Neo4j while you watch."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fraudgraph.errors import FraudgraphError
from fraudgraph.graph.connection import open_driver
from fraudgraph.paths import GRAPH_STYLE_GRASS, SAVED_QUERIES_CYPHER
from fraudgraph.settings import Settings
from fraudgraph.simulator.cli import simulate
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import demo_worker

DEMO_CUSTOMERS = 1000
DEMO_DAYS = 14
LABELS = (
    "Customer",
    "Account",
    "Card",
    "Device",
    "IP",
    "Merchant",
    "Transaction",
    "Email",
    "Phone",
    "NationalId",
    "Address",
    "ExternalAccount",
    "FraudReport",
)
SAVED_QUERIES = SAVED_QUERIES_CYPHER


def ensure_bank(settings: Settings, console: Console) -> None:
    with psycopg.connect(settings.pg_dsn.get_secret_value()) as connection:
        row = connection.execute("SELECT count(*) FROM bank.transactions").fetchone()
    if row and row[0]:
        console.print(f"the bank already holds {row[0]:,} transactions; keeping them")
        return
    console.print(f"loading a simulated bank: {DEMO_CUSTOMERS} customers, {DEMO_DAYS} days")
    simulate(  # the CLI function itself: it prints its own summary
        customers=DEMO_CUSTOMERS,
        days=DEMO_DAYS,
        bulk=True,
        labels=settings.state_dir / "demo-labels.jsonl",
    )


def ensure_worker(settings: Settings, console: Console) -> None:
    worker = demo_worker(StackConfig(FRAUDGRAPH_STATE_DIR=settings.state_dir))  # type: ignore[call-arg]
    if worker.process() is not None:
        console.print("stream worker already running")
        return
    worker.start([sys.executable, "-m", "fraudgraph", "worker"], env=dict(os.environ))
    console.print(f"stream worker started (log: {worker.files.log_file})")


def wait_for_graph(settings: Settings, console: Console, timeout: float = 900) -> None:
    with psycopg.connect(settings.pg_dsn.get_secret_value()) as connection:
        row = connection.execute("SELECT count(*) FROM bank.transactions").fetchone()
    expected = int(row[0]) if row else 0
    with open_driver(settings) as driver:
        deadline = time.monotonic() + timeout
        with Progress(console=console) as progress:
            task = progress.add_task("transactions in the graph", total=expected)
            while True:
                records, _, _ = driver.execute_query(
                    "MATCH (t:Transaction) WHERE t._lsn IS NOT NULL RETURN count(t) AS n"
                )
                done = int(records[0]["n"])
                progress.update(task, completed=done)
                if done >= expected:
                    break
                if time.monotonic() > deadline:
                    raise FraudgraphError(
                        f"the graph holds {done:,} of {expected:,} transactions after "
                        f"{timeout:.0f}s; see the worker log"
                    )
                time.sleep(1)  # polling a progress bar, not standing in for a condition
        counts: dict[str, int] = {}
        for label in LABELS:
            records, _, _ = driver.execute_query(f"MATCH (n:{label}) RETURN count(n) AS n")
            counts[label] = int(records[0]["n"])
        console.print(graph_table(counts))


def graph_table(counts: Mapping[str, int]) -> Table:
    """Nodes by label: two short columns, which fit in 80 as they are."""
    table = Table("label", "nodes", title="the graph")
    for label, count in counts.items():
        table.add_row(label, f"{count:,}")
    return table


def show_where_to_look(settings: Settings, console: Console) -> None:
    console.print(
        "\nOpen Neo4j Browser at [bold]http://127.0.0.1:7474/browser/[/] "
        f"(user {settings.neo4j_user}; password: `fraudgraph stack status` says where)."
    )
    console.print(f"Saved queries (neighbourhood, shared devices, money paths): {SAVED_QUERIES}")
    console.print(f"Captions, colours: drag {GRAPH_STYLE_GRASS} onto Browser (or :style + text)")
    first = SAVED_QUERIES.read_text().split("\n\n")[1]
    console.print(first, highlight=False)
