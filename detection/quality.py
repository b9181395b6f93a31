"""Detection quality in memory: simulate a bank, replay today's detectors, score them.

`replay_bank` is one bank; `replay_matrix` is the honest protocol's report, every
registered seed of one split (evaluation/seeds.py) for each generator family, pooled
per family into the typology x generator matrix. Detectors run exactly as configured:
nothing here tunes anything, so the test split is safe to run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudgraph.detection.offline import Order, replay
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.evaluation.matrix import Matrix, build_matrix
from fraudgraph.evaluation.scoring import Report, RuleMap, score
from fraudgraph.evaluation.seeds import SEEDS, TUNED_ON, Split, describe, seeds_for
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.options import make_options

# Offline only: any fixed key gives the same structure as the worker's key would.
_OFFLINE_KEY = "offline-replay-key-not-a-secret"


@dataclass(frozen=True)
class BankRun:
    generator: str
    seed: int
    report: Report
    alerts: list[dict[str, Any]]
    rows: int
    generate_s: float
    detect_s: float


def replay_bank(
    *,
    seed: int,
    customers: int,
    days: int,
    config: DetectionConfig,
    rule_map: RuleMap,
    generator: str = "classic",
    fraud: list[str] | None = None,
    order: Order = "snapshot",
) -> BankRun:
    began = time.perf_counter()
    options = make_options(
        seed=seed, customers=customers, days=days, fraud=fraud, generator=generator
    )
    bank = generate(options)
    generated = time.perf_counter() - began
    began = time.perf_counter()
    alerts = replay(bank.tables, default_mapping(), PiiHasher(_OFFLINE_KEY), config, order=order)
    detected = time.perf_counter() - began
    return BankRun(
        generator,
        seed,
        score(bank.labels, alerts, rule_map),
        alerts,
        bank.total_rows(),
        generated,
        detected,
    )


def matrix_header(split: Split, generators: Sequence[str], customers: int, days: int) -> str:
    scored = ", ".join(f"{g} {describe(seeds_for(g, split))}" for g in generators)
    other: Split = "tuning" if split == "test" else "test"
    unscored = ", ".join(f"{g} {describe(seeds_for(g, other))}" for g in generators)
    return (
        f"{split} seeds scored: {scored}; {other} seeds (not scored here): {unscored}; "
        f"{customers:,} customers x {days} days per bank"
    )


def matrix_caption(detectors_file: Path | None) -> str:
    source = str(detectors_file) if detectors_file else "detection/detectors.yaml"
    others = ", ".join(g for g in SEEDS if g != TUNED_ON)
    return (
        f"Thresholds: {source}, tuned on {TUNED_ON} banks only (its tuning seeds); "
        f"{TUNED_ON} columns are in-family, {others} cross-family."
    )


def replay_matrix(
    *,
    generators: Sequence[str],
    split: Split,
    customers: int,
    days: int,
    config: DetectionConfig,
    rule_map: RuleMap,
    detectors_file: Path | None = None,
    progress: Callable[[BankRun], None] | None = None,
) -> Matrix:
    reports: dict[str, list[Report]] = {}
    for generator in generators:
        for seed in seeds_for(generator, split):
            run = replay_bank(
                seed=seed,
                customers=customers,
                days=days,
                config=config,
                rule_map=rule_map,
                generator=generator,
            )
            reports.setdefault(generator, []).append(run.report)
            if progress is not None:
                progress(run)
    return build_matrix(
        reports,
        header=matrix_header(split, generators, customers, days),
        caption=matrix_caption(detectors_file),
    )
