"""Train the learned scorer on simulated banks of the tuning seeds, and only those.

Samples come from the same replay the quality matrix runs (detection/offline.py): a
recorder rides the detection engine and, at every transfer the scorer judges, takes
its features as of that transfer (`transfer_features`: the payer's, then the
payee's), exactly as the worker's scorer will. A sample is positive when the transfer
is one of a fraud case's labelled transfers: an account in a case also pays its rent,
and those payments are honest, as are look-alikes.

Validation is a subset of the tuning seeds, fold by fold (`train`): the threshold is
chosen on out-of-fold scores at account level, the way alerts are scored: an account
counts as flagged when a transfer naming it scores at or above the threshold. The
threshold is the lowest with validation precision at least `target_precision` in
every generator family, so recall is as high as that precision allows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import lightgbm
import numpy as np

from fraudgraph.alerts.model import Finding
from fraudgraph.detection.context import Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.history import Txn
from fraudgraph.detection.learned.features import FEATURE_NAMES, scored, transfer_features
from fraudgraph.detection.learned.model_file import ModelFile
from fraudgraph.detection.offline import replay
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.evaluation.seeds import seeds_for
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.labels import FRAUD
from fraudgraph.simulator.options import make_options

# Offline only: any fixed key gives the same structure as the worker's key would.
_OFFLINE_KEY = "offline-replay-key-not-a-secret"
LIGHTGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": 7,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 2,
    "verbosity": -1,
}
ROUNDS = 300
# Validation precision every family must keep (`choose_threshold`). Chosen on the
# whole system (rules, scorer, the members its alerts name), each amlsim tuning bank
# replayed with a fold model that never saw it (docs/detection-quality.md): at this
# target (threshold 0.954) P 90.0 %, R 80.8 %, look-alikes 3.2 %; a threshold of 0.97
# found 4.5 points less, one of 0.94 1.5 points more for 4.7 % of look-alikes.
TARGET_PRECISION = 0.875


class FeatureRecorder(Detector):
    """Takes the scorer's features at every transfer it would judge; raises nothing."""

    rule: ClassVar[str] = "feature_recorder"
    kind = "anomaly"
    handles: ClassVar[frozenset[EventKind]] = frozenset({"transaction"})

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[Txn, tuple[float, ...]]] = []

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        if scored(event.txn):
            self.rows.append((event.txn, transfer_features(event.txn, ctx)))
        return ()


@dataclass
class BankSamples:
    generator: str
    seed: int
    ends: list[tuple[int, ...]]  # the accounts each transfer names
    features: list[tuple[float, ...]]
    labels: list[int]
    fraud_accounts: set[int]
    lookalike_accounts: set[int]
    seconds: float


def bank_samples(generator: str, seed: int, *, customers: int, days: int) -> BankSamples:
    """Simulate one bank and take the features at every transfer, labelled."""
    began = time.perf_counter()
    bank = generate(make_options(seed=seed, customers=customers, days=days, generator=generator))
    recorder = FeatureRecorder()
    replay(
        bank.tables,
        default_mapping(),
        PiiHasher(_OFFLINE_KEY),
        DetectionConfig(),
        detectors=[(recorder, False)],
    )
    fraud_accounts = {
        int(label.entity_id)
        for label in bank.labels
        if label.kind == FRAUD and label.entity_type == "account"
    }
    fraud_transfers = {
        int(label.entity_id)
        for label in bank.labels
        if label.kind == FRAUD and label.entity_type == "transaction"
    }
    lookalikes = {
        int(label.entity_id)
        for label in bank.labels
        if label.kind != FRAUD and label.entity_type == "account"
    }
    return BankSamples(
        generator,
        seed,
        [transfer_ends(txn) for txn, _ in recorder.rows],
        [features for _, features in recorder.rows],
        [int(txn.txn_id in fraud_transfers) for txn, _ in recorder.rows],
        fraud_accounts,
        lookalikes - fraud_accounts,
        time.perf_counter() - began,
    )


@dataclass(frozen=True)
class Validation:
    """Account-level figures at one threshold over the validation banks."""

    threshold: float
    precision: float
    recall: float
    lookalike_rate: float
    flagged: int
    by_generator: dict[str, dict[str, float]] = field(default_factory=dict)


def transfer_ends(txn: Txn) -> tuple[int, ...]:
    ends = (txn.account_id, txn.counterparty_account_id)
    return tuple(a for a in ends if a is not None)


def _account_scores(bank: BankSamples, scores: Sequence[float]) -> dict[int, float]:
    """Per account, the highest score of a transfer naming it."""
    best: dict[int, float] = {}
    for ends, score in zip(bank.ends, scores, strict=True):
        for account in ends:
            if score > best.get(account, -1.0):
                best[account] = score
    return best


def _figures(
    banks: Sequence[BankSamples], scores: Sequence[Sequence[float]], threshold: float
) -> tuple[int, int, int, int, int]:
    """(flagged, true positives, fraud accounts, look-alikes, look-alikes flagged)."""
    flagged = hits = fraud = looks = looks_flagged = 0
    for bank, bank_scores in zip(banks, scores, strict=True):
        best = _account_scores(bank, bank_scores)
        named = {a for a, s in best.items() if s >= threshold}
        flagged += len(named)
        hits += len(named & bank.fraud_accounts)
        fraud += len(bank.fraud_accounts)
        looks += len(bank.lookalike_accounts)
        looks_flagged += len(named & bank.lookalike_accounts)
    return flagged, hits, fraud, looks, looks_flagged


def validate(
    banks: Sequence[BankSamples], scores: Sequence[Sequence[float]], threshold: float
) -> Validation:
    flagged, hits, fraud, looks, looks_flagged = _figures(banks, scores, threshold)
    by_generator: dict[str, dict[str, float]] = {}
    for generator in sorted({b.generator for b in banks}):
        chosen = [(b, s) for b, s in zip(banks, scores, strict=True) if b.generator == generator]
        g_flagged, g_hits, g_fraud, g_looks, g_looks_flagged = _figures(
            [b for b, _ in chosen], [s for _, s in chosen], threshold
        )
        by_generator[generator] = {
            "precision": g_hits / g_flagged if g_flagged else 0.0,
            "recall": g_hits / g_fraud if g_fraud else 0.0,
            "lookalike_rate": g_looks_flagged / g_looks if g_looks else 0.0,
        }
    return Validation(
        threshold,
        hits / flagged if flagged else 0.0,
        hits / fraud if fraud else 0.0,
        looks_flagged / looks if looks else 0.0,
        flagged,
        by_generator,
    )


def choose_threshold(
    banks: Sequence[BankSamples],
    scores: Sequence[Sequence[float]],
    target_precision: float,
) -> Validation:
    """The lowest account score at which every family's validation precision still
    reaches the target.

    Each family must reach it on its own: pooled, one family's easy cases would pay
    for another's false alarms (classic banks' rings let amlsim's precision slide).
    Accounts of every bank are swept from the highest score down, so each candidate is
    a score some account has: the threshold sits on an account, not between grid steps.
    """
    ranked: list[tuple[float, bool, str]] = []
    for bank, bank_scores in zip(banks, scores, strict=True):
        for account, score in _account_scores(bank, bank_scores).items():
            ranked.append((score, account in bank.fraud_accounts, bank.generator))
    ranked.sort(key=lambda item: -item[0])
    chosen = 0.99
    flagged: dict[str, int] = {}
    hits: dict[str, int] = {}
    for at, (score, fraud, generator) in enumerate(ranked):
        flagged[generator] = flagged.get(generator, 0) + 1
        hits[generator] = hits.get(generator, 0) + fraud
        last_of_its_score = at + 1 == len(ranked) or ranked[at + 1][0] < score
        if last_of_its_score and all(hits[g] / flagged[g] >= target_precision for g in flagged):
            chosen = score
    # Not rounded: rounding down would let in accounts just under the chosen one.
    return validate(banks, scores, min(max(chosen, 0.05), 0.99))


@dataclass(frozen=True)
class TrainingRun:
    model: ModelFile
    validation: Validation
    samples: int
    positives: int
    seconds: float


def train(
    *,
    generators: Sequence[str],
    customers: int,
    days: int,
    target_precision: float = TARGET_PRECISION,
    version: str | None = None,
    progress: Callable[[BankSamples], None] | None = None,
) -> TrainingRun:
    """Fit on every tuning seed of `generators`; the threshold comes from folds.

    Fold k holds out the k-th tuning seed of each family and fits on the others; the
    held-out banks' scores (out of fold) choose the threshold, so every tuning bank
    validates once and none is scored by a model that saw it. The model shipped is
    then fitted on all of them.
    """
    began = time.perf_counter()
    banks: list[BankSamples] = []
    folds: list[int] = []
    for generator in generators:
        for fold, seed in enumerate(seeds_for(generator, "tuning")):
            banks.append(bank_samples(generator, seed, customers=customers, days=days))
            folds.append(fold)
            if progress is not None:
                progress(banks[-1])
    params = {**LIGHTGBM_PARAMS, "scale_pos_weight": _class_weight(banks)}
    out_of_fold: list[list[float]] = [[] for _ in banks]
    for fold in sorted(set(folds)):
        booster = _fit([b for b, f in zip(banks, folds, strict=True) if f != fold], params)
        for at, bank in enumerate(banks):
            if folds[at] == fold:
                out_of_fold[at] = predict(booster, bank.features)
    chosen = choose_threshold(banks, out_of_fold, target_precision)
    booster = _fit(banks, params)
    positives = sum(sum(b.labels) for b in banks)
    samples = sum(len(b.labels) for b in banks)
    model = ModelFile(
        version=version or datetime.now(UTC).strftime("%Y-%m-%d"),
        threshold=chosen.threshold,
        booster=booster.model_to_string(),
        training={
            "generators": list(generators),
            "fit_seeds": {g: [b.seed for b in banks if b.generator == g] for g in generators},
            "validation": "out of fold: fold k holds out the k-th tuning seed of each family",
            "folds": len(set(folds)),
            "customers": customers,
            "days": days,
            "samples": samples,
            "positives": positives,
            "rounds": ROUNDS,
            "params": params,
            "target_precision": target_precision,
        },
        metrics={
            "validation": {
                "threshold": chosen.threshold,
                "precision": round(chosen.precision, 4),
                "recall": round(chosen.recall, 4),
                "lookalike_rate": round(chosen.lookalike_rate, 4),
                "by_generator": {
                    g: {k: round(v, 4) for k, v in figures.items()}
                    for g, figures in chosen.by_generator.items()
                },
            },
            "gain_importance": _importance(booster),
        },
    )
    return TrainingRun(model, chosen, samples, positives, time.perf_counter() - began)


def _fit(banks: Sequence[BankSamples], params: dict[str, Any]) -> lightgbm.Booster:
    x = np.array([f for b in banks for f in b.features], dtype=np.float64)
    y = np.array([label for b in banks for label in b.labels], dtype=np.float64)
    dataset = lightgbm.Dataset(x, label=y, feature_name=list(FEATURE_NAMES), free_raw_data=True)
    return lightgbm.train(params, dataset, num_boost_round=ROUNDS)


def _class_weight(banks: Sequence[BankSamples]) -> float:
    return _balance(sum(len(b.labels) for b in banks), sum(sum(b.labels) for b in banks))


def predict(booster: lightgbm.Booster, features: Sequence[tuple[float, ...]]) -> list[float]:
    if not features:
        return []
    return [float(p) for p in np.asarray(booster.predict(np.array(features, dtype=np.float64)))]


def _balance(samples: int, positives: int) -> float:
    """Weight of a positive sample: the square root of the class ratio, capped.

    The full ratio (hundreds to one) makes the model call every busy account fraud;
    none leaves it blind to the rare shapes.
    """
    if positives == 0:
        return 1.0
    return min(math.sqrt((samples - positives) / positives), 30.0)


def _importance(booster: Any) -> dict[str, float]:
    gains = booster.feature_importance(importance_type="gain")
    total = float(sum(gains)) or 1.0
    ranked = sorted(zip(FEATURE_NAMES, gains, strict=True), key=lambda kv: -kv[1])
    return {name: round(float(gain) / total, 4) for name, gain in ranked}


def summary(run: TrainingRun) -> Mapping[str, Any]:
    return {
        "version": run.model.version,
        "threshold": run.model.threshold,
        "samples": run.samples,
        "positives": run.positives,
        "seconds": round(run.seconds, 1),
        "validation": run.model.metrics["validation"],
    }
