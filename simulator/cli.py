"""`fraudgraph simulate`: fill the contract schema with a labelled simulated bank."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fraudgraph.extras import require
from fraudgraph.settings import get_settings
from fraudgraph.simulator import live as live_mode
from fraudgraph.simulator import loader
from fraudgraph.simulator.errors import DatabaseError, OptionError
from fraudgraph.simulator.families import DEFAULT_GENERATOR, FAMILIES, get_family
from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.labels import Label, write_labels
from fraudgraph.simulator.options import DEFAULT_START, SimulationOptions, make_options
from fraudgraph.simulator.rows import TABLE_ORDER
from fraudgraph.simulator.typologies import TYPOLOGIES

_err = Console(stderr=True)
_out = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=False,
    )


def _labels_table(labels: list[Label], typologies: Iterable[str] = TYPOLOGIES) -> Table:
    table = Table("typology", "cases", "labels", title="ground truth (labels file only)")
    by_typology: dict[str, tuple[set[str], int]] = {name: (set(), 0) for name in typologies}
    for label in labels:
        cases, lines = by_typology.setdefault(label.typology, (set(), 0))
        cases.add(label.case_id)
        by_typology[label.typology] = (cases, lines + 1)
    for name, (cases, lines) in by_typology.items():
        table.add_row(name, str(len(cases)), str(lines))
    table.add_row(
        "[bold]total", str(sum(len(c) for c, _ in by_typology.values())), str(len(labels))
    )
    return table


def _refuse_if_loaded(conn: loader.Connection) -> None:
    """Generated ids start at 1 in every table: any row there would collide."""
    occupied = [table for table, top in loader.max_ids(conn).items() if top > 0]
    if occupied:
        raise DatabaseError(
            f"table(s) {', '.join(occupied)} already hold rows whose ids would collide; "
            "rerun with --reset to empty the demo bank first"
        )


def _run_bulk(
    options: SimulationOptions, labels_path: Path, dsn: str, reset: bool, dry_run: bool
) -> None:
    conn = None
    if not dry_run:  # fail fast, before minutes of generation, if the database is not usable
        conn = loader.connect(dsn)
        loader.check_schema(conn)
        if reset:
            loader.reset(conn)
        else:
            _refuse_if_loaded(conn)
    with _progress() as progress:
        tasks: dict[str, TaskID] = {}

        def on_generate(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        bank = generate(options, on_generate)
    written = write_labels(labels_path, bank.labels)
    stats = None
    if conn is not None:
        clashes = loader.colliding_tables(conn, bank.tables)
        if clashes:
            raise DatabaseError(
                f"table(s) {', '.join(clashes)} already hold rows with the ids to load; "
                "rerun with --reset to empty the demo bank first"
            )
        with _progress() as progress:
            counts = bank.row_counts()
            task_of = {t: progress.add_task(f"COPY {t}", total=counts[t]) for t in TABLE_ORDER}
            stats = loader.copy_rows(
                conn, bank.tables, lambda t, n: progress.advance(task_of[t], n)
            )
        conn.close()
    _bulk_summary(bank, stats, labels_path, written)


def _bulk_summary(
    bank: SimulatedBank, stats: loader.CopyStats | None, labels_path: Path, written: int
) -> None:
    for table in bulk_tables(bank, stats):
        _out.print(table)
    _out.print(
        f"history folded into final rows: {bank.updates:,} updates, "
        f"{bank.erased_logins:,} logins erased; "
        f"labels: {written:,} lines -> {labels_path}"
        + ("" if stats else "  (dry run: nothing loaded)")
    )


def bulk_tables(bank: SimulatedBank, stats: loader.CopyStats | None) -> list[Table]:
    """Rows per table, ground truth, timing: short columns that fit in 80 as they are."""
    rows = Table("table", "rows", title=f"simulated bank, seed {bank.options.seed}")
    for table, count in bank.row_counts().items():
        rows.add_row(table, f"{count:,}")
    rows.add_row("[bold]total", f"{bank.total_rows():,}")
    timing = Table("step", "seconds", "rows/s", title="timing")
    timing.add_row("generate", f"{bank.seconds:.2f}", f"{bank.total_rows() / bank.seconds:,.0f}")
    if stats is not None:
        timing.add_row("COPY (binary)", f"{stats.seconds:.2f}", f"{stats.rows_per_second:,.0f}")
    typologies = get_family(bank.options.generator).typologies
    return [rows, _labels_table(bank.labels, typologies), timing]


def _run_live(
    options: SimulationOptions,
    live: live_mode.LiveOptions,
    labels_path: Path,
    dsn: str,
    reset: bool,
) -> None:
    conn = loader.connect(dsn)
    loader.check_schema(conn)
    if reset:
        loader.reset(conn)
    _err.print(f"preparing {options.customers:,} customers ...")
    world, active, how = live_mode.prepare(conn, options, time.time())
    if not active:
        raise DatabaseError("no active customers to simulate")
    clock = live_mode.Clock(time.time(), live.time_scale)
    world.sink = live_mode.LiveSink(clock)
    run = live_mode.LiveRun(
        conn, world=world, clock=clock, options=options, live=live, active=active
    )
    _err.print(f"population {how}; streaming at {live.rate:,.0f} transactions/s (Ctrl-C to stop)")
    with _progress() as progress:
        task = progress.add_task("live", total=live.duration or None)

        def on_tick(stats: live_mode.LiveStats, elapsed: float) -> None:
            progress.update(
                task,
                completed=min(elapsed, live.duration) if live.duration else elapsed,
                description=f"live {stats.txn_rate:,.0f} tx/s",
            )

        stats = run.run(on_tick)
    conn.close()
    labels = run.labels()
    written = write_labels(labels_path, labels)
    _out.print(live_table(stats, live))
    _out.print(_labels_table(labels, get_family(options.generator).typologies))
    _out.print(f"labels: {written:,} lines -> {labels_path}")


def live_table(stats: live_mode.LiveStats, live: live_mode.LiveOptions) -> Table:
    """What a live run did: two short columns, which fit in 80 as they are."""
    table = Table("measure", "value", title="live run")
    table.add_row("seconds", f"{stats.seconds:.1f}")
    table.add_row("transactions/s asked", f"{live.rate:,.0f}")
    table.add_row("transactions/s achieved", f"{stats.txn_rate:,.0f}")
    for name in TABLE_ORDER:
        if stats.inserted[name]:
            table.add_row(f"inserted {name}", f"{stats.inserted[name]:,}")
    for name, count in sorted(stats.updated.items()):
        table.add_row(f"updated {name}", f"{count:,}")
    table.add_row("deleted logins (erasures)", f"{stats.deleted_logins:,}")
    table.add_row("database transactions", f"{stats.batches:,}")
    table.add_row("fraud cases", f"{stats.cases:,}")
    table.add_row("events not yet due at stop", f"{stats.dropped_events:,}")
    return table


def simulate(
    *,
    seed: Annotated[
        int, typer.Option(help="Same seed and options give the same rows and labels.")
    ] = 1,
    customers: Annotated[
        int, typer.Option(help="Customers of everyday life (fraud adds its own).")
    ] = 10_000,
    days: Annotated[int, typer.Option(help="Days of history (--bulk).")] = 30,
    start: Annotated[
        str, typer.Option(help="First instant of the history (ISO 8601, UTC).")
    ] = DEFAULT_START.isoformat().replace("+00:00", "Z"),
    generator: Annotated[
        str,
        typer.Option(
            help=f"Generator family of the fraud cases: {', '.join(FAMILIES)}; "
            "same population and everyday life."
        ),
    ] = DEFAULT_GENERATOR,
    fraud: Annotated[
        list[str] | None,
        typer.Option(
            "--fraud",
            help=f"NAME=COUNT[:SIZE], repeatable; NAME in all, {', '.join(TYPOLOGIES)} "
            "(classic; other --generator families have their own names).",
        ),
    ] = None,
    reveal_share: Annotated[
        float, typer.Option(help="Share of fraud cases revealed in fraud_reports.")
    ] = 0.3,
    false_positives: Annotated[
        int | None, typer.Option(help="false_positive verdicts on legitimate customers.")
    ] = None,
    labels: Annotated[
        Path, typer.Option(help="Ground-truth JSON Lines file (never in the database).")
    ] = Path("labels.jsonl"),
    bulk: Annotated[
        bool, typer.Option("--bulk", help="Load a history with COPY (the default).")
    ] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Stream inserts, updates and deletes at --rate.")
    ] = False,
    rate: Annotated[float, typer.Option(help="--live: everyday transactions per second.")] = 2000.0,
    duration: Annotated[
        float, typer.Option(help="--live: seconds to run (0: until Ctrl-C).")
    ] = 0.0,
    time_scale: Annotated[
        float, typer.Option(help="--live: simulated seconds per wall second.")
    ] = 3600.0,
    case_every: Annotated[
        float, typer.Option(help="--live: seconds between fraud cases (0: none).")
    ] = 2.0,
    reset: Annotated[
        bool, typer.Option("--reset", help="TRUNCATE the demo bank tables first.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="--bulk: generate and write labels only.")
    ] = False,
    dsn: Annotated[
        str | None, typer.Option(help="PostgreSQL DSN (default: FRAUDGRAPH_PG_DSN).")
    ] = None,
) -> None:
    """Fill the contract schema with a believable bank whose fraud is labelled."""
    require("faker", extra="simulator")  # before any work: the one line that names the extra
    if bulk and live:
        raise OptionError("choose one of --bulk and --live")
    if live and dry_run:
        raise OptionError("--dry-run applies to --bulk only")
    if rate <= 0 or duration < 0 or time_scale <= 0 or case_every < 0:
        raise OptionError("--rate and --time-scale must be > 0; --duration and --case-every >= 0")
    options = make_options(
        seed=seed,
        customers=customers,
        days=days,
        start=start,
        fraud=fraud or [],
        reveal_share=reveal_share,
        false_positives=false_positives,
        generator=generator,
    )
    target = dsn or get_settings().pg_dsn.get_secret_value()
    if live:
        live_options = live_mode.LiveOptions(
            rate=rate,
            duration=duration,
            time_scale=time_scale,
            case_every=case_every,
            case_horizon=min(8.0, duration / 2) if duration else 8.0,
        )
        _run_live(options, live_options, labels, target, reset)
    else:
        _run_bulk(options, labels, target, reset, dry_run)
