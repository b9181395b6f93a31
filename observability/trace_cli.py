"""`fraudgraph trace TXN_ID`: a transaction's journey from commit to webhook, from the span files.

`fraudgraph trace --summary` instead summarises every traced transaction in the
files: per-hop latency percentiles (printed, and written with --json).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from fraudgraph.errors import ConfigError
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.trace_files import SpanRecord, read_spans, span_files
from fraudgraph.observability.trace_journey import (
    MILESTONES,
    Journey,
    hop_summary,
    hop_table,
    journey_of,
    span_tree,
)
from fraudgraph.observability.tracing import traces_dir
from fraudgraph.settings import get_settings

TRANSACTIONS = "transactions"


class TraceNotFoundError(ConfigError):
    """No exported span names the transaction."""


def trace(
    txn_id: Annotated[
        str | None, typer.Argument(help="A transactions.txn_id (omit with --summary).")
    ] = None,
    directory: Annotated[
        list[Path] | None,
        typer.Option(
            "--dir", help="Folder of span files (repeatable; default <state_dir>/traces)."
        ),
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="Per-hop percentiles over every transaction.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the hops (or summary) here.")
    ] = None,
) -> None:
    """Print a transaction's spans as a tree, with the latency of each hop."""
    folders = directory or [traces_dir(get_settings().state_dir)]
    files = span_files(folders)
    if not files:
        raise ConfigError(
            f"no span files in {', '.join(map(str, folders))} (is FRAUDGRAPH_TRACING off?)"
        )
    console = Console()
    if summary:
        figures = summarise(files)
        console.print(summary_table(figures))
        if json_out is not None:
            json_out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        return
    if txn_id is None or not txn_id.strip():
        raise ConfigError("give a transaction id, or --summary")
    found = find_transaction(files, txn_id.strip())
    for trace_id, spans in found.items():
        console.print(span_tree(trace_id, spans))
        journey = journey_of(trace_id, spans)
        console.print(hop_table(journey))
        if json_out is not None:
            json_out.write_bytes(orjson.dumps(dict(journey.hops()), option=orjson.OPT_INDENT_2))


def find_transaction(files: list[Path], txn_id: str) -> dict[str, list[SpanRecord]]:
    """Every trace whose change was the transactions row `txn_id`, with all its spans."""
    # Cheap first pass on raw lines: only lines naming the key are parsed.
    needle = orjson.dumps({sc.ROW_KEY: txn_id})[1:-1]
    trace_ids = {
        span.trace_id
        for span in read_spans(files, lambda line: needle in line)
        if span.attributes.get(sc.TABLE) == TRANSACTIONS
        and str(span.attributes.get(sc.ROW_KEY)) == txn_id
    }
    if not trace_ids:
        raise TraceNotFoundError(
            f"no spans of transaction {txn_id} in {', '.join(str(f.parent) for f in files[:1])}"
        )
    spans = _spans_of_traces(files, trace_ids)
    # The worker's batch steps (decode, graph write, detect) are linked, not children.
    for own in spans.values():
        batches = {linked for span in own for linked, _ in span.links}
        for batch in _spans_of_traces(files, batches).values():
            own.extend(batch)
    return spans


def _spans_of_traces(files: list[Path], trace_ids: set[str]) -> dict[str, list[SpanRecord]]:
    if not trace_ids:
        return {}
    needles = [trace_id.encode() for trace_id in trace_ids]
    spans: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in read_spans(files, lambda line: any(n in line for n in needles)):
        if span.trace_id in trace_ids:
            spans[span.trace_id].append(span)
    return dict(spans)


def summarise(files: list[Path], since_ns: int = 0) -> dict[str, object]:
    """Per-hop percentiles over the traces of transactions rows (one pass over the files),
    of the traces that began at or after `since_ns` (epoch ns) when given."""
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    writes: dict[str, SpanRecord] = {}  # a batch span's id -> its graph write
    for span in read_spans(files):
        if span.name == sc.GRAPH_WRITE and span.parent_id:
            writes[span.parent_id] = span
        elif _milestone_span(span):
            by_trace[span.trace_id].append(span)
    journeys: list[Journey] = []
    for trace_id, spans in by_trace.items():
        if min(span.start_ns for span in spans) < since_ns:
            continue  # begun before the window: part of another load
        linked = [writes[s] for span in spans for _, s in span.links if s in writes]
        journey = journey_of(trace_id, spans + linked)
        if journey.table == TRANSACTIONS:
            journeys.append(journey)
    return {
        "transactions": len(journeys),
        "files": [str(f) for f in files],
        "hops": hop_summary(journeys),
    }


def _milestone_span(span: SpanRecord) -> bool:
    """Only spans that mark a milestone are kept, so a long file fits in memory."""
    return span.name in (sc.DEBEZIUM_READ, sc.DEBEZIUM_COMMIT) or span.kind in (
        "CONSUMER",
        "PRODUCER",
        "CLIENT",
    )


def summary_table(figures: dict[str, object]) -> Table:
    hops = figures["hops"]
    assert isinstance(hops, dict)
    table = Table(title=f"per-hop latency over {figures['transactions']:,} traced transactions")
    for column in ("hop", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "hop" else "right")

    def order(label: str) -> tuple[bool, int]:
        first, _, rest = label.partition(" → ")
        return "(total)" in rest, MILESTONES.index(first)

    for label in sorted(hops, key=order):
        row = hops[label]
        table.add_row(
            label,
            f"{row['count']:,}",
            *(f"{row[k]:,.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
        )
    return table
