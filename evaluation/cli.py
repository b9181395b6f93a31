"""`fraudgraph eval`: score the service's alerts against the simulator's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Column, Table

from fraudgraph.evaluation import sources
from fraudgraph.evaluation.errors import EvaluationError
from fraudgraph.evaluation.scoring import (
    DEFAULT_ENTITY_TYPES,
    Report,
    RuleMap,
    Score,
    report_to_json,
    score,
)
from fraudgraph.paths import RULE_TYPOLOGIES_JSON
from fraudgraph.settings import get_settings
from fraudgraph.simulator.labels import ENTITY_TYPES, LabelFormatError, read_labels
from fraudgraph.tables import Fitting, compact_table

DEFAULT_RULE_MAP = RULE_TYPOLOGIES_JSON
_out = Console()
_err = Console(stderr=True)


def load_rule_map(path: Path) -> RuleMap:
    try:
        return RuleMap.from_json(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise EvaluationError(f"cannot read rule map {path}: {error}") from error


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f}s"
    if seconds < 7200:
        return f"{sign}{seconds / 60:.0f}m"
    return f"{sign}{seconds / 3600:.1f}h"


def report_table(report: Report) -> Fitting:
    """Every figure on a wide console; in 80 columns, the compact `_report_compact`."""
    return Fitting(_report_full(report), _report_compact(report))


def _title(report: Report) -> str:
    return f"detection quality ({', '.join(report.entity_types)} entities)"


def _report_full(report: Report) -> Table:
    table = Table(
        "typology",
        "labelled",
        "attributed",
        "TP",
        "FP",
        "precision",
        "recall",
        "F1",
        "rings",
        "ring recall",
        "median delay",
        title=_title(report),
    )

    def add(s: Score, style: str = "") -> None:
        table.add_row(
            s.name,
            str(s.labelled),
            _count(s.predicted),
            _count(s.true_positives),
            _count(s.false_positives),
            _pct(s.precision),
            _pct(s.recall),
            _pct(s.f1),
            f"{s.rings_detected}/{s.rings}",
            _pct(s.ring_recall),
            _delay(s.delay.median_s),
            style=style,
        )

    for s in report.typologies:
        add(s)
    add(report.overall, "bold")
    return table


# Eleven boxed columns need about 130 characters. In 80, two go (attributed is TP + FP,
# ring recall is what `rings` shows as a fraction), headers shrink to what a legend
# explains, and the table loses its vertical rules.
_LEGEND = (
    "lab. labelled entities; TP/FP true/false positives; P precision; R recall; "
    "rings detected/labelled; delay median time from a case's first event to its first alert"
)
_COMPACT_FIGURES = ("lab.", "TP", "FP", "P", "R", "F1", "rings", "delay")


def _report_compact(report: Report) -> Table:
    figures = [Column(h, justify="right", overflow="fold") for h in _COMPACT_FIGURES]
    table = compact_table(
        # A typology is a name to look up: never folded (it has room to stay whole).
        Column("typology", no_wrap=True),
        *figures,
        title=_title(report),
        caption=_LEGEND,
    )
    for s in (*report.typologies, report.overall):
        table.add_row(
            s.name,
            str(s.labelled),
            _count(s.true_positives),
            _count(s.false_positives),
            _pct(s.precision),
            _pct(s.recall),
            _pct(s.f1),
            f"{s.rings_detected}/{s.rings}",
            _delay(s.delay.median_s),
            style="bold" if s is report.overall else "",
        )
    return table


def evaluate(
    *,
    labels: Annotated[
        Path, typer.Option(help="Labels JSON Lines written by `fraudgraph simulate`.")
    ],
    alerts: Annotated[
        Path | None,
        typer.Option(help="JSON Lines file of alerts (default: read the alerts topic)."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option(help="Alerts topic (default: FRAUDGRAPH_ALERTS_TOPIC).")
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap (default: FRAUDGRAPH_KAFKA_BOOTSTRAP).")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed to read the topic to its end.")
    ] = 30.0,
    entity_types: Annotated[
        str, typer.Option(help="Comma-separated entity types to score.")
    ] = ",".join(DEFAULT_ENTITY_TYPES),
    rule_map: Annotated[Path, typer.Option(help="Rule -> typology map (JSON).")] = DEFAULT_RULE_MAP,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval.json"),
) -> None:
    """Precision, recall, F1, ring recall and detection delay of alerts against labels."""
    types = tuple(t.strip() for t in entity_types.split(",") if t.strip())
    unknown = [t for t in types if t not in ENTITY_TYPES]
    if not types or unknown:
        raise EvaluationError(
            f"--entity-types: unknown {', '.join(unknown) or '(none given)'}; "
            f"use {', '.join(ENTITY_TYPES)}"
        )
    if timeout <= 0:
        raise EvaluationError("--timeout must be > 0")
    try:
        truth = read_labels(labels)
    except OSError as error:
        raise EvaluationError(f"cannot read labels {labels}: {error.strerror or error}") from error
    except LabelFormatError as error:
        raise EvaluationError(str(error)) from error
    mapping = load_rule_map(rule_map)
    if alerts is not None:
        batch = sources.read_file(alerts)
        origin = str(alerts)
    else:
        settings = get_settings()
        name = topic or settings.alerts_topic
        batch = sources.read_topic(bootstrap or settings.kafka_bootstrap, name, timeout)
        origin = f"topic {name}"
    report = score(truth, batch.alerts, mapping, types)
    _out.print(report_table(report))
    _out.print(
        f"alerts from {origin}: {batch.read} read, {batch.invalid} invalid, "
        f"{report.duplicate_alerts} duplicate, {report.unmapped_alerts} with an unmapped rule; "
        f"{report.unknown_entities} named entities are in no label"
    )
    if report.lookalikes:
        every = report.lookalikes[-1]
        rate = f"{every.rate:.1%}" if every.rate is not None else "-"
        _out.print(
            f"honest look-alikes flagged: {every.flagged} of {every.labelled} entities ({rate}); "
            "per pattern in the report file"
        )
    if batch.first_error:
        _err.print(f"first invalid alert: {batch.first_error}", highlight=False, soft_wrap=True)
    document = report_to_json(report)
    document["source"] = {
        "origin": origin,
        "read": batch.read,
        "invalid": batch.invalid,
        "first_error": batch.first_error,
    }
    document["labels"] = str(labels)
    try:
        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as error:
        raise EvaluationError(f"cannot write {out}: {error.strerror or error}") from error
    _out.print(f"report -> {out}")
