"""The typology x generator matrix: one column group (P, R, F1) per generator family.

Pure functions over `scoring.Report`s. Several banks of one generator (its seeds) are
pooled by summing counts, not by averaging percentages: a seed with 3 labelled
entities must not weigh as much as one with 300. Pooling is sound because each bank
is scored on its own first (entity ids repeat across banks, so they are never mixed).

Rows: every fraud typology any generator labels (a shared name such as `cycle` is
one row: the same shape drawn by two families), then `overall`, then each honest
look-alike pattern and `all look-alikes`, whose figure is the flag rate (share of
the pattern's entities named by any alert; lower is better) shown under R, as it is
the same ratio recall is for fraud.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Column, Table

from fraudgraph.evaluation.scoring import Report, Score, f1_score
from fraudgraph.tables import Fitting, compact_table

OVERALL = "overall"
ALL_LOOKALIKES = "all look-alikes"


@dataclass(frozen=True)
class Cell:
    """Pooled counts of one row for one generator."""

    labelled: int
    detected: int  # labelled entities named by any alert (flagged, for a look-alike)
    predicted: int | None = None  # None: no alert claimed this typology (no P)
    true_positives: int | None = None
    lookalike: bool = False

    @property
    def precision(self) -> float | None:
        if self.lookalike or not self.predicted or self.true_positives is None:
            return None
        return self.true_positives / self.predicted

    @property
    def recall(self) -> float | None:
        return self.detected / self.labelled if self.labelled else None

    @property
    def f1(self) -> float | None:
        return None if self.lookalike else f1_score(self.precision, self.recall)


def _sum_optional(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _pool_scores(scores: Sequence[Score]) -> Cell:
    return Cell(
        labelled=sum(s.labelled for s in scores),
        detected=sum(s.detected for s in scores),
        predicted=_sum_optional([s.predicted for s in scores]),
        true_positives=_sum_optional([s.true_positives for s in scores]),
    )


def pool(reports: Sequence[Report]) -> dict[str, Cell]:
    """One generator's banks -> row name -> pooled cell."""
    fraud: dict[str, list[Score]] = {}
    honest: dict[str, list[tuple[int, int]]] = {}
    for report in reports:
        for s in report.typologies:
            fraud.setdefault(s.name, []).append(s)
        for look in report.lookalikes:
            honest.setdefault(look.name, []).append((look.labelled, look.flagged))
    cells = {name: _pool_scores(scores) for name, scores in fraud.items()}
    if reports:
        cells[OVERALL] = _pool_scores([r.overall for r in reports])
    for name, pairs in honest.items():
        cells[name] = Cell(sum(p[0] for p in pairs), sum(p[1] for p in pairs), lookalike=True)
    return cells


@dataclass(frozen=True)
class Matrix:
    generators: tuple[str, ...]
    rows: tuple[str, ...]
    cells: Mapping[tuple[str, str], Cell]  # (row, generator); absent: not in that family
    header: str  # which split and seeds: printed on its own lines above the table
    caption: str  # how to read it (shown under the table)

    def cell(self, row: str, generator: str) -> Cell | None:
        return self.cells.get((row, generator))


def build_matrix(
    reports: Mapping[str, Sequence[Report]], *, header: str = "", caption: str = ""
) -> Matrix:
    """Generator -> its banks' reports (in column order) -> the matrix."""
    pooled = {generator: pool(list(banks)) for generator, banks in reports.items()}
    fraud: set[str] = set()
    honest: set[str] = set()
    for by_name in pooled.values():
        for name, cell in by_name.items():
            if name in (OVERALL, ALL_LOOKALIKES):
                continue
            (honest if cell.lookalike else fraud).add(name)
    rows = [*sorted(fraud), OVERALL]
    if honest:
        rows += [*sorted(honest), ALL_LOOKALIKES]
    cells = {
        (row, generator): cell
        for generator, by_row in pooled.items()
        for row, cell in by_row.items()
    }
    return Matrix(tuple(reports), tuple(rows), cells, header, caption)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


_LEGEND = (
    "P precision, R recall, F1, pooled over the seeds; "
    "look-alike rows: R is the share of honest entities flagged (lower is better); "
    "blank: the generator has no such typology; -: no rule claims it"
)


_COUNTS = "n labelled entities; "


def _figures(cell: Cell | None, *, counts: bool) -> list[str]:
    if cell is None:
        return ["", "", "", ""] if counts else ["", "", ""]
    shown = [
        "" if cell.lookalike else _pct(cell.precision),
        _pct(cell.recall),
        "" if cell.lookalike else _pct(cell.f1),
    ]
    return [str(cell.labelled), *shown] if counts else shown


def _layout(matrix: Matrix, *, counts: bool) -> Table:
    headers: list[Column] = [Column("typology", no_wrap=True)]
    for generator in matrix.generators:
        # The generator names its group once, over the group's first column.
        names = ["n", "P", "R", "F1"] if counts else ["P", "R", "F1"]
        headers += [
            Column(f"{generator}\n{name}" if at == 0 else f"\n{name}", justify="right")
            for at, name in enumerate(names)
        ]
    table = compact_table(
        *headers,
        title="detection quality by generator",
        caption=f"{matrix.caption} {_COUNTS if counts else ''}{_LEGEND}".strip(),
    )
    for row in matrix.rows:
        cells: list[str] = [row]
        for generator in matrix.generators:
            cells += _figures(matrix.cell(row, generator), counts=counts)
        table.add_row(*cells, style="bold" if row in (OVERALL, ALL_LOOKALIKES) else "")
    return table


def matrix_table(matrix: Matrix) -> Fitting:
    """With labelled counts where they fit; P, R, F1 alone in 80 columns."""
    return Fitting(_layout(matrix, counts=True), _layout(matrix, counts=False))


def matrix_to_json(matrix: Matrix) -> dict[str, Any]:
    def cell_json(cell: Cell) -> dict[str, Any]:
        if cell.lookalike:
            return {
                "labelled_entities": cell.labelled,
                "flagged_entities": cell.detected,
                "flag_rate": cell.recall,
            }
        return {
            "labelled_entities": cell.labelled,
            "detected_entities": cell.detected,
            "predicted_entities": cell.predicted,
            "true_positives": cell.true_positives,
            "precision": cell.precision,
            "recall": cell.recall,
            "f1": cell.f1,
        }

    return {
        "header": matrix.header,
        "caption": matrix.caption,
        "generators": list(matrix.generators),
        "rows": {
            row: {
                generator: cell_json(cell)
                for generator in matrix.generators
                if (cell := matrix.cell(row, generator)) is not None
            }
            for row in matrix.rows
        },
    }


def ablation_table(variants: Mapping[str, Matrix]) -> Fitting:
    """Overall P, R and the look-alike flag rate of each variant, per generator."""
    generators = next(iter(variants.values())).generators if variants else ()

    def layout(counts: bool) -> Table:
        headers: list[Column] = [Column("detectors", no_wrap=True)]
        for generator in generators:
            names = ["P", "R", "F1", "look"] if counts else ["P", "R", "look"]
            headers += [
                Column(f"{generator}\n{name}" if at == 0 else f"\n{name}", justify="right")
                for at, name in enumerate(names)
            ]
        table = compact_table(
            *headers,
            title="ablation: overall figures",
            caption="look: share of honest look-alike entities flagged (lower is better)",
        )
        for name, matrix in variants.items():
            cells = [name]
            for generator in generators:
                overall = matrix.cell(OVERALL, generator)
                honest = matrix.cell(ALL_LOOKALIKES, generator)
                shown = [
                    _pct(overall.precision if overall else None),
                    _pct(overall.recall if overall else None),
                ]
                if counts:
                    shown.append(_pct(overall.f1 if overall else None))
                shown.append(_pct(honest.recall) if honest else "")
                cells += shown
            table.add_row(*cells)
        return table

    return Fitting(layout(True), layout(False))
