"""Detection quality in memory: simulate a bank, replay today's detectors, score them.

`replay_bank` is one bank; `replay_matrix` is the honest protocol's report, every
registered seed of one split (evaluation/seeds.py) for each generator family, pooled
per family into the typology x generator matrix. Detectors run exactly as configured:
nothing here tunes anything, so the test split is safe to run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraudgraph.detection.learned.model_file import load_model_file
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


LEARNED_RULE = "learned_risk"
# Ablation: which of one replay's alerts each variant keeps. Detectors judge every event
# on their own (an alert id is one detector's), so the learned scorer's alerts and the
# rules' are exactly what each would raise alone: one replay gives all three rows.
VARIANTS: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "rules alone": lambda alert: alert.get("rule") != LEARNED_RULE,
    "model alone": lambda alert: alert.get("rule") == LEARNED_RULE,
    "rules + model": lambda alert: True,
}


@dataclass(frozen=True)
class BankRun:
    generator: str
    seed: int
    report: Report
    alerts: list[dict[str, Any]]
    rows: int
    generate_s: float
    detect_s: float
    variants: dict[str, Report] = field(default_factory=dict)  # see VARIANTS


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
        {
            name: score(bank.labels, [a for a in alerts if keeps(a)], rule_map)
            for name, keeps in VARIANTS.items()
        },
    )


def matrix_header(split: Split, generators: Sequence[str], customers: int, days: int) -> str:
    scored = ", ".join(f"{g} {describe(seeds_for(g, split))}" for g in generators)
    other: Split = "tuning" if split == "test" else "test"
    unscored = ", ".join(f"{g} {describe(seeds_for(g, other))}" for g in generators)
    return (
        f"{split} seeds scored: {scored}; {other} seeds (not scored here): {unscored}; "
        f"{customers:,} customers x {days} days per bank"
    )


def matrix_caption(detectors_file: Path | None, model_file: Path | None = None) -> str:
    source = str(detectors_file) if detectors_file else "detection/detectors.yaml"
    if model_file is not None:
        trained = load_model_file(model_file).training.get("generators", [])
        others = [g for g in SEEDS if g not in trained]
        cross = f"; for it, {', '.join(others)} columns are cross-family" if others else ""
        return (
            f"Rules: {source}, tuned on {' and '.join(TUNED_ON)} tuning seeds. Learned "
            f"scorer: {model_file}, trained on {' and '.join(trained)} tuning seeds{cross}."
        )
    tuned = " and ".join(TUNED_ON)
    others = [g for g in SEEDS if g not in TUNED_ON]
    cross = f", {', '.join(others)} cross-family" if others else ""
    return (
        f"Thresholds: {source}, tuned on {tuned} tuning seeds; "
        f"{', '.join(TUNED_ON)} columns are in-family{cross}."
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
    model_file: Path | None = None,
    progress: Callable[[BankRun], None] | None = None,
) -> tuple[Matrix, dict[str, Matrix]]:
    """The matrix of every alert, and one per ablation variant (VARIANTS)."""
    reports: dict[str, list[Report]] = {}
    by_variant: dict[str, dict[str, list[Report]]] = {name: {} for name in VARIANTS}
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
            for name, report in run.variants.items():
                by_variant[name].setdefault(generator, []).append(report)
            if progress is not None:
                progress(run)
    header = matrix_header(split, generators, customers, days)
    caption = matrix_caption(detectors_file, model_file)
    variants = {
        name: build_matrix(banks, header=header, caption=caption)
        for name, banks in by_variant.items()
    }
    return build_matrix(reports, header=header, caption=caption), variants
