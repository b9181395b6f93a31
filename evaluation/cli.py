"""`fraudgraph eval`: score the service's alerts against the simulator's labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Column, Table

from fraudgraph.evaluation import sources
from fraudgraph.evaluation.errors import EvaluationError
from fraudgraph.evaluation.matrix import build_matrix, matrix_table, matrix_to_json
from fraudgraph.evaluation.scoring import (
    DEFAULT_ENTITY_TYPES,
    Report,
    RuleMap,
    Score,
    report_to_json,
    score,
)
from fraudgraph.evaluation.seeds import SEEDS, describe
from fraudgraph.paths import RULE_TYPOLOGIES_JSON
from fraudgraph.settings import get_settings
from fraudgraph.simulator.families import FAMILIES
from fraudgraph.simulator.labels import ENTITY_TYPES, Label, LabelFormatError, read_labels
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
        list[Path],
        typer.Option(
            help="Labels JSON Lines written by `fraudgraph simulate`. Repeat it, with one "
            "--alerts per labels file in the same order, to score several banks (seeds, "
            "generator families): the typology x generator matrix."
        ),
    ],
    alerts: Annotated[
        list[Path] | None,
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
    mapping = load_rule_map(rule_map)
    if len(labels) > 1:
        # Entity ids restart at 1 in every bank, so a topic (one stream, whichever
        # banks fed it) cannot be split between labels files: each bank brings its file.
        if alerts is None or len(alerts) != len(labels):
            raise EvaluationError(
                f"{len(labels)} --labels files need as many --alerts files, in the same "
                "order (entity ids repeat across banks, so one topic cannot serve several)"
            )
        _evaluate_banks(list(zip(labels, alerts, strict=True)), mapping, types, out)
        return
    truth = _read_labels(labels[0])
    if alerts:
        if len(alerts) > 1:
            raise EvaluationError("one --labels file takes one --alerts file")
        batch = sources.read_file(alerts[0])
        origin = str(alerts[0])
    else:
        settings = get_settings()
        name = topic or settings.alerts_topic
        batch = sources.read_topic(bootstrap or settings.kafka_bootstrap, name, timeout)
        origin = f"topic {name}"
    report = score(truth, batch.alerts, mapping, types)
    _out.print(report_table(report))
    _print_source(origin, batch, report)
    if report.lookalikes:
        every = report.lookalikes[-1]
        rate = f"{every.rate:.1%}" if every.rate is not None else "-"
        _out.print(
            f"honest look-alikes flagged: {every.flagged} of {every.labelled} entities ({rate}); "
            "per pattern in the report file"
        )
    document = report_to_json(report)
    document["source"] = _source_json(origin, batch)
    document["labels"] = str(labels[0])
    _write(out, document)


def _read_labels(path: Path) -> list[Label]:
    try:
        return read_labels(path)
    except OSError as error:
        raise EvaluationError(f"cannot read labels {path}: {error.strerror or error}") from error
    except LabelFormatError as error:
        raise EvaluationError(str(error)) from error


def _print_source(origin: str, batch: sources.AlertBatch, report: Report) -> None:
    _out.print(
        f"alerts from {origin}: {batch.read} read, {batch.invalid} invalid, "
        f"{report.duplicate_alerts} duplicate, {report.unmapped_alerts} with an unmapped rule; "
        f"{report.unknown_entities} named entities are in no label",
        highlight=False,
    )
    if batch.first_error:
        _err.print(f"first invalid alert: {batch.first_error}", highlight=False, soft_wrap=True)


def _source_json(origin: str, batch: sources.AlertBatch) -> dict[str, Any]:
    return {
        "origin": origin,
        "read": batch.read,
        "invalid": batch.invalid,
        "first_error": batch.first_error,
    }


def _write(out: Path, document: dict[str, Any]) -> None:
    try:
        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as error:
        raise EvaluationError(f"cannot write {out}: {error.strerror or error}") from error
    _out.print(f"report -> {out}")


def _evaluate_banks(
    banks: list[tuple[Path, Path]], mapping: RuleMap, types: tuple[str, ...], out: Path
) -> None:
    """Several banks, each scored on its own, pooled per generator into the matrix."""
    reports: dict[str, list[Report]] = {}
    files: dict[str, list[str]] = {}
    runs: list[dict[str, Any]] = []
    for labels_path, alerts_path in banks:
        truth = _read_labels(labels_path)
        generator = generator_of(truth, labels_path)
        batch = sources.read_file(alerts_path)
        report = score(truth, batch.alerts, mapping, types)
        _print_source(f"{alerts_path} ({generator}, {labels_path})", batch, report)
        reports.setdefault(generator, []).append(report)
        files.setdefault(generator, []).append(labels_path.name)
        document = report_to_json(report)
        document.update(
            generator=generator,
            labels=str(labels_path),
            source=_source_json(str(alerts_path), batch),
        )
        runs.append(document)
    header = "; ".join(f"{g}: {', '.join(names)}" for g, names in files.items())
    matrix = build_matrix(
        reports,
        header=f"labels scored: {header}\n{registered_seeds()}",
        caption="Pooled over each generator's labels files.",
    )
    _out.print(matrix.header, highlight=False, soft_wrap=True)
    _out.print(matrix_table(matrix))
    _write(out, {"matrix": matrix_to_json(matrix), "runs": runs})


def generator_of(labels: Sequence[Label], path: Path) -> str:
    """The family whose case-id prefix every label carries (classic's prefix is empty)."""
    prefixed = [f for f in FAMILIES.values() if f.case_prefix]
    found = {
        next((f.name for f in prefixed if label.case_id.startswith(f.case_prefix)), "classic")
        for label in labels
    }
    if len(found) != 1:
        raise EvaluationError(
            f"{path}: labels from {', '.join(sorted(found)) or 'no'} generator(s); "
            "one labels file per bank"
        )
    return found.pop()


def registered_seeds() -> str:
    """Labels files do not record their seed: the registry is shown so the reader can
    check that only test seeds were scored."""
    listed = "; ".join(
        f"{g} tuning {describe(s['tuning'])}, test {describe(s['test'])}" for g, s in SEEDS.items()
    )
    return f"registered seeds (evaluation/seeds.py): {listed}; report test seeds only"
