"""The model card: what a model file was trained on and how it scored, in Markdown.

Written from the model file itself by `fraudgraph model train` (and `fraudgraph model
card`), so the card cannot disagree with the model it sits beside. Figures on frozen
test seeds are not in it: they come from `fraudgraph analyze replay --matrix`, which
reads the test seeds, and live in docs/detection-quality.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraudgraph.detection.learned.features import (
    ACCOUNT_FEATURE_NAMES,
    FEATURES_VERSION,
    PAIR_FEATURE_NAMES,
)
from fraudgraph.detection.learned.model_file import ModelFile


def _seeds(by_generator: dict[str, Any]) -> str:
    return "; ".join(f"{g} {', '.join(str(s) for s in seeds)}" for g, seeds in by_generator.items())


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _pct(value: Any) -> str:
    return f"{float(value):.1%}" if isinstance(value, int | float) else "-"


def render_card(model: ModelFile) -> str:
    training = model.training
    validation = model.metrics.get("validation", {})
    importance = model.metrics.get("gain_importance", {})
    lines = [
        f"# Model card: account_risk {model.version}",
        "",
        "Written by `fraudgraph model train` from the model file beside it; do not edit.",
        "",
        "## What it does",
        "",
        "Scores every transfer that moved money between accounts, or out of the bank,",
        "as of the transfer's own time, from the features of its payer, its payee and",
        "the pair (detection/learned/features.py). A transfer scoring at or above the",
        "threshold raises a `learned_risk` alert naming both accounts, their owners and",
        "the transfer, explained by the model's own per-feature contributions (TreeSHAP).",
        "A flagged transfer into a collector also names the accounts that fed it, and one",
        "out of a spreader those it paid, by the same channel in the last ten days",
        "(detection/detectors/_counterparts.py). The hub's later transfers that way in",
        "those ten days raise alerts too, whatever they score themselves",
        "(detection/detectors/learned_risk.py, `follow_hubs`).",
        "",
        "## Training data",
        "",
        f"- Generator families: {', '.join(training.get('generators', []))}",
        f"- Fit on tuning seeds: {_seeds(training.get('fit_seeds', {}))}",
        f"- Threshold chosen on out-of-fold scores, {training.get('folds', '?')} folds: "
        "fold k holds out the k-th tuning seed of each family",
        f"- Bank size: {training.get('customers', '?'):,} customers x "
        f"{training.get('days', '?')} days each",
        f"- Samples: {training.get('samples', 0):,} transfers, "
        f"{training.get('positives', 0):,} of them a fraud case's labelled transfers",
        "- Frozen test seeds (evaluation/seeds.py) are never read by training.",
        "",
        "## Model",
        "",
        f"- LightGBM, binary objective, {training.get('rounds', '?')} rounds; parameters: "
        + ", ".join(f"`{k}={_value(v)}`" for k, v in training.get("params", {}).items()),
        f"- Threshold: {model.threshold:.4f} (lowest with validation precision >= "
        f"{training.get('target_precision', '?')} at account level in every family)",
        f"- Features: version {FEATURES_VERSION}, {len(model.feature_names)} in all: "
        f"{len(ACCOUNT_FEATURE_NAMES)} of the payer, the same of the payee, "
        f"{len(PAIR_FEATURE_NAMES)} of the pair.",
        "",
        "## Validation (out of fold on the tuning seeds; account level)",
        "",
        "| bank | precision | recall | look-alikes flagged |",
        "|---|---:|---:|---:|",
        f"| all | {_pct(validation.get('precision'))} | {_pct(validation.get('recall'))} | "
        f"{_pct(validation.get('lookalike_rate'))} |",
    ]
    for generator, figures in validation.get("by_generator", {}).items():
        lines.append(
            f"| {generator} | {_pct(figures.get('precision'))} | "
            f"{_pct(figures.get('recall'))} | {_pct(figures.get('lookalike_rate'))} |"
        )
    lines += [
        "",
        "Test-seed and cross-family figures: docs/detection-quality.md.",
        "",
        "## Features by share of the model's gain",
        "",
        "| feature | gain |",
        "|---|---:|",
        *(f"| {name} | {_pct(share)} |" for name, share in list(importance.items())[:20]),
        "",
        "## Limits",
        "",
        "- Trained on simulated banks only; a bank's own labelled history should be used",
        "  to train it again (`fraudgraph model train` takes the generator families today).",
        "- It judges one transfer at a time: a case's members whose own transfers look",
        "  ordinary are left to the rules (rings, takeovers) and, in a fan-in or fan-out,",
        "  to the members a later flagged transfer names.",
        "",
    ]
    return "\n".join(lines)


def card_path_for(model_path: Path) -> Path:
    """`account_risk.json` -> `account_risk.md`, beside it."""
    return model_path.with_suffix(".md")
