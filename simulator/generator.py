"""Assemble a deterministic `SimulatedBank` from options: population, a window of
everyday life, the fraud cases among it, investigators' verdicts, and labels.

Every stage draws from its own `random.Random` seeded from (stage, seed), so the
same seed and options give the same rows and labels, and changing one typology's
count does not reshuffle everyday life.
"""

# ruff: noqa: S311 - a simulation: seeded, reproducible randomness is the point, not secrecy

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fraudgraph.simulator import normal_life, reports
from fraudgraph.simulator.families import get_family
from fraudgraph.simulator.ids import IdAllocator
from fraudgraph.simulator.labels import Label
from fraudgraph.simulator.options import SimulationOptions
from fraudgraph.simulator.population import build_population
from fraudgraph.simulator.rows import TABLE_ORDER, FraudReport, Login, Row, Transaction
from fraudgraph.simulator.sink import BulkSink
from fraudgraph.simulator.typologies import Case, Typology
from fraudgraph.simulator.world import DAY, World

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class SimulatedBank:
    options: SimulationOptions
    tables: dict[str, list[Row]]
    labels: list[Label]
    cases: list[Case] = field(default_factory=list)
    updates: int = 0
    erased_logins: int = 0
    seconds: float = 0.0

    def row_counts(self) -> dict[str, int]:
        return {table: len(rows) for table, rows in self.tables.items()}

    def total_rows(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def label_counts(self) -> dict[str, tuple[int, int]]:
        """typology -> (cases, label lines)."""
        typologies = get_family(self.options.generator).typologies
        counts: dict[str, tuple[int, int]] = {name: (0, 0) for name in typologies}
        for case in self.cases:
            cases, lines = counts.get(case.typology, (0, 0))
            counts[case.typology] = (cases + 1, lines)
        for label in self.labels:
            cases, lines = counts.get(label.typology, (0, 0))
            counts[label.typology] = (cases, lines + 1)
        return counts


def vary(rng: random.Random, size: int, minimum: int) -> int:
    """A case's size: within a third of the asked size, never under the minimum."""
    spread = size // 3
    return max(minimum, rng.randint(size - spread, size + spread))


def case_id(typology: str, index: int, prefix: str = "") -> str:
    return f"{prefix}{typology}:{index:04d}"


def inject_cases(w: World, options: SimulationOptions, *, t0: float, t1: float) -> list[Case]:
    """All cases of every typology of the options' generator family, each at a random
    place inside [t0, t1)."""
    family = get_family(options.generator)
    return _inject(
        w,
        options,
        family.typologies,
        seed_prefix=family.seed_prefix,
        case_prefix=family.case_prefix,
        t0=t0,
        t1=t1,
    )


def _inject(
    w: World,
    options: SimulationOptions,
    typologies: Mapping[str, Typology],
    *,
    seed_prefix: str,
    case_prefix: str,
    t0: float,
    t1: float,
) -> list[Case]:
    cases: list[Case] = []
    for name, typology in typologies.items():
        # classic's prefix is "": its seeds, and so its banks, are what they always were
        rng = random.Random(f"{seed_prefix}{name}:{options.seed}")
        spec = options.spec(name)
        for index in range(1, spec.count + 1):
            span = min(typology.span, t1 - t0 - 60)
            start = rng.uniform(t0, t1 - span - 60)
            case = Case(name, case_id(name, index, case_prefix), index, typology.kind)
            size = vary(rng, spec.size, typology.min_size)
            typology.inject(w, rng, case, start=start, end=start + span, size=size)
            if case.entities:
                cases.append(case)
    return cases


def generate(
    options: SimulationOptions, progress: Progress = _no_progress, ids: IdAllocator | None = None
) -> SimulatedBank:
    began = time.perf_counter()
    sink = BulkSink()
    t0 = options.start.timestamp()
    t1 = t0 + options.days * DAY
    ids = ids or IdAllocator()
    first_ids = ids.starts()
    world = World(seed=options.seed, start=t0, end=t1, sink=sink, ids=ids)
    build_population(world, random.Random(f"population:{options.seed}"), options.customers)
    life = random.Random(f"life:{options.seed}")
    people = list(world.persons.values())
    for person in people:
        normal_life.plan_departure(world, life, person, t0, t1)
        normal_life.legitimate_episodes(world, life, person, t0, t1)
    for done, person in enumerate(people, start=1):
        normal_life.live_person(world, life, person, t0, t1)
        if done % 200 == 0 or done == len(people):
            progress("everyday life", done, len(people))
    progress("fraud cases", 0, 1)
    cases = inject_cases(world, options, t0=t0, t1=t1)
    verdicts = random.Random(f"reports:{options.seed}")
    reports.reveal_cases(world, verdicts, cases, options.reveal_share, latest=t1)
    reports.false_positives(world, verdicts, options.false_positives, t0, t1)
    progress("fraud cases", 1, 1)
    sink.finish()
    tables, txn_ids = _final_tables(sink, first_ids)
    labels = [_renumbered(label, txn_ids) for case in cases for label in case.labels()]
    return SimulatedBank(
        options=options,
        tables=tables,
        labels=labels,
        cases=cases,
        updates=len(sink.updates),
        erased_logins=sink.erased_logins,
        seconds=time.perf_counter() - began,
    )


def _final_tables(
    sink: BulkSink, first_ids: dict[str, int]
) -> tuple[dict[str, list[Row]], dict[int, int]]:
    """Rows per table in key order; logins and transactions renumbered in event-time
    order (as a bank's sequences would have numbered them) — returns the txn id map."""
    tables: dict[str, list[Row]] = {}
    txn_ids: dict[int, int] = {}
    for table in TABLE_ORDER:
        rows = sink.tables[table]
        if table == "logins":
            ordered_logins = sorted(
                (r for r in rows.values() if isinstance(r, Login)),
                key=lambda r: (r.occurred_at, r.login_id),
            )
            tables[table] = [
                row._replace(login_id=first_ids[table] + n) for n, row in enumerate(ordered_logins)
            ]
        elif table == "transactions":
            ordered_txns = sorted(
                (r for r in rows.values() if isinstance(r, Transaction)),
                key=lambda r: (r.created_at, r.txn_id),
            )
            renumbered: list[Row] = []
            for n, txn in enumerate(ordered_txns):
                txn_ids[txn.txn_id] = first_ids[table] + n
                renumbered.append(txn._replace(txn_id=first_ids[table] + n))
            tables[table] = renumbered
        elif table == "fraud_reports":
            tables[table] = [
                r._replace(txn_id=txn_ids[r.txn_id])
                if isinstance(r, FraudReport) and r.txn_id
                else r
                for _, r in sorted(rows.items())
            ]
        else:
            tables[table] = [row for _, row in sorted(rows.items())]
    return tables, txn_ids


def _renumbered(label: Label, txn_ids: dict[int, int]) -> Label:
    if label.entity_type != "transaction":
        return label
    return dataclasses.replace(label, entity_id=str(txn_ids[int(label.entity_id)]))
