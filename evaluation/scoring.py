"""Scoring alerts against labels: pure functions over plain data, no I/O.

Definitions (see simulator/README.md, "Scoring"):

* Entities are (type, id) pairs; only `entity_types` are scored (default customer,
  account). Alerts are de-duplicated by alert_id and entities by (type, id), so a
  replayed alert or two alerts naming one entity count once.
* Overall: predicted = entities named by any alert; truth = entities in any label.
  precision = |predicted & truth| / |predicted| (an unknown entity is a false
  positive); recall = |predicted & truth| / |truth|.
* Per typology T: recall_T asks "was T's fraud caught at all": the share of T's
  labelled entities named by any alert, whatever its rule. precision_T asks "when
  a rule that claims T fires, is it right": among entities named by alerts whose
  rule maps to T (`RuleMap`), the share labelled under T. No alert maps to T ->
  precision_T is None.
* Ring recall: a case counts as detected when at least half of its scored
  entities are named by alerts (cases with no scored entity are not counted).
* Detection delay of a case: earliest event time of an alert naming any of its
  entities (any type) minus the case's first event; the alert's event time is its
  `event_time` field, else `evidence.event_time`, else `source_committed_at`, else
  `detected_at`. Negative means flagged before the fraud started (e.g. a ring
  spotted from shared identifiers at onboarding).
* Look-alikes: labels of kind "lookalike" (honest patterns shaped like fraud: payroll,
  rent, a club's dues) are not truth: naming them is a false positive like any
  unlabelled entity. Their flag rate, per look-alike typology and for all, is
  flagged / labelled look-alike entities (entities also labelled as fraud excluded).
"""

from __future__ import annotations

import fnmatch
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fraudgraph.simulator.labels import FRAUD, Label

Entity = tuple[str, str]
DEFAULT_ENTITY_TYPES: tuple[str, ...] = ("customer", "account")
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class RuleMap:
    """Rule name -> typologies a rule claims to detect."""

    patterns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fallback_by_kind: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleMap:
        patterns = tuple(
            (str(rule["pattern"]).lower(), tuple(str(t) for t in rule["typologies"]))
            for rule in data.get("rules", [])
        )
        fallback = {
            str(k): tuple(str(t) for t in v)
            for k, v in dict(data.get("fallback_by_kind", {})).items()
        }
        return cls(patterns, fallback)

    def typologies(self, alert: Mapping[str, Any]) -> tuple[str, ...]:
        own = alert.get("typologies", alert.get("typology"))
        if isinstance(own, str):
            return (own,)
        if isinstance(own, list) and all(isinstance(t, str) for t in own):
            return tuple(own)
        name = str(alert.get("rule", "")).lower()
        for separator in ("-", ".", " ", "/"):
            name = name.replace(separator, "_")
        for pattern, typologies in self.patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return typologies
        return self.fallback_by_kind.get(str(alert.get("kind", "")), ())


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def alert_event_time(alert: Mapping[str, Any]) -> datetime | None:
    evidence = alert.get("evidence")
    candidates = [
        alert.get("event_time"),
        evidence.get("event_time") if isinstance(evidence, Mapping) else None,
        alert.get("source_committed_at"),
        alert.get("detected_at"),
    ]
    for candidate in candidates:
        parsed = parse_time(candidate)
        if parsed is not None:
            return parsed
    return None


def dedupe(alerts: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], int]:
    """Alerts with distinct alert_id (first kept) and how many duplicates were dropped."""
    seen: set[str] = set()
    unique: list[Mapping[str, Any]] = []
    duplicates = 0
    for alert in alerts:
        key = str(alert.get("alert_id"))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        unique.append(alert)
    return unique, duplicates


def alert_entities(alert: Mapping[str, Any]) -> set[Entity]:
    return {
        (str(e.get("type")), str(e.get("id")))
        for e in alert.get("entities", [])
        if isinstance(e, Mapping)
    }


@dataclass(frozen=True)
class DelayStats:
    cases: int
    median_s: float | None
    mean_s: float | None
    p90_s: float | None
    min_s: float | None
    max_s: float | None


def delay_stats(delays: Sequence[float]) -> DelayStats:
    if not delays:
        return DelayStats(0, None, None, None, None, None)
    ordered = sorted(delays)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return DelayStats(
        len(ordered),
        statistics.median(ordered),
        statistics.fmean(ordered),
        p90,
        ordered[0],
        ordered[-1],
    )


@dataclass(frozen=True)
class Score:
    """Figures for one typology or for all of them."""

    name: str
    labelled: int  # scored entities in the labels
    predicted: int | None  # scored entities attributed to this typology (None: no rule maps here)
    true_positives: int | None
    false_positives: int | None
    detected: int  # labelled entities named by any alert
    precision: float | None
    recall: float | None
    f1: float | None
    rings: int
    rings_detected: int
    ring_recall: float | None
    delay: DelayStats


@dataclass(frozen=True)
class LookalikeScore:
    """How often an honest look-alike pattern's entities were named by alerts."""

    name: str
    labelled: int
    flagged: int
    rate: float | None


@dataclass(frozen=True)
class Report:
    entity_types: tuple[str, ...]
    alerts: int
    unique_alerts: int
    duplicate_alerts: int
    unmapped_alerts: int
    named_entities: int
    unknown_entities: int
    overall: Score
    typologies: tuple[Score, ...]
    lookalikes: tuple[LookalikeScore, ...] = ()  # empty when the labels have none


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def f1_score(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _cases(labels: Sequence[Label]) -> dict[str, list[Label]]:
    cases: dict[str, list[Label]] = {}
    for label in labels:
        cases.setdefault(label.case_id, []).append(label)
    return cases


def _ring_and_delay(
    cases: Mapping[str, list[Label]],
    named: set[Entity],
    first_alert: Mapping[Entity, datetime],
    types: set[str],
) -> tuple[int, int, list[float]]:
    rings = detected_rings = 0
    delays: list[float] = []
    for members in cases.values():
        scored = {label.entity for label in members if label.entity_type in types}
        if scored:
            rings += 1
            if 2 * len(scored & named) >= len(scored):
                detected_rings += 1
        times = [first_alert[label.entity] for label in members if label.entity in first_alert]
        if times:
            start = min(label.first_event_at for label in members)
            delays.append((min(times) - start).total_seconds())
    return rings, detected_rings, delays


def score(
    labels: Sequence[Label],
    alerts: Iterable[Mapping[str, Any]],
    rule_map: RuleMap | None = None,
    entity_types: Sequence[str] = DEFAULT_ENTITY_TYPES,
) -> Report:
    """Score alerts (already schema-valid) against labels."""
    rule_map = rule_map or RuleMap()
    types = set(entity_types)
    honest = [label for label in labels if label.kind != FRAUD]
    labels = [label for label in labels if label.kind == FRAUD]
    all_alerts = list(alerts)
    unique, duplicates = dedupe(all_alerts)

    named: set[Entity] = set()  # scored entities named by any alert
    by_typology: dict[str, set[Entity]] = {}
    first_alert: dict[Entity, datetime] = {}  # any entity type, for delays
    unmapped = 0
    for alert in unique:
        entities = alert_entities(alert)
        scored = {e for e in entities if e[0] in types}
        named |= scored
        claimed = rule_map.typologies(alert)
        if not claimed:
            unmapped += 1
        for typology in claimed:
            by_typology.setdefault(typology, set()).update(scored)
        at = alert_event_time(alert)
        if at is not None:
            for entity in entities:
                if entity not in first_alert or at < first_alert[entity]:
                    first_alert[entity] = at

    truth_by_typology: dict[str, set[Entity]] = {}
    for label in labels:
        truth = truth_by_typology.setdefault(label.typology, set())
        if label.entity_type in types:
            truth.add(label.entity)
    truth_all: set[Entity] = (
        set().union(*truth_by_typology.values()) if truth_by_typology else set()
    )

    scores = []
    for typology in sorted(truth_by_typology):
        truth = truth_by_typology[typology]
        predicted = by_typology.get(typology)
        tp = len(predicted & truth) if predicted is not None else None
        fp = len(predicted - truth) if predicted is not None else None
        precision = _ratio(tp, len(predicted)) if predicted is not None and tp is not None else None
        detected = len(truth & named)
        recall = _ratio(detected, len(truth))
        cases = _cases([label for label in labels if label.typology == typology])
        rings, rings_hit, delays = _ring_and_delay(cases, named, first_alert, types)
        scores.append(
            Score(
                typology,
                len(truth),
                len(predicted) if predicted is not None else None,
                tp,
                fp,
                detected,
                precision,
                recall,
                f1_score(precision, recall),
                rings,
                rings_hit,
                _ratio(rings_hit, rings),
                delay_stats(delays),
            )
        )

    tp_all = len(named & truth_all)
    precision_all = _ratio(tp_all, len(named))
    recall_all = _ratio(tp_all, len(truth_all))
    rings, rings_hit, delays = _ring_and_delay(_cases(labels), named, first_alert, types)
    overall = Score(
        "overall",
        len(truth_all),
        len(named),
        tp_all,
        len(named) - tp_all,
        tp_all,
        precision_all,
        recall_all,
        f1_score(precision_all, recall_all),
        rings,
        rings_hit,
        _ratio(rings_hit, rings),
        delay_stats(delays),
    )
    return Report(
        entity_types=tuple(entity_types),
        alerts=len(all_alerts),
        unique_alerts=len(unique),
        duplicate_alerts=duplicates,
        unmapped_alerts=unmapped,
        named_entities=len(named),
        unknown_entities=len(named - truth_all),
        overall=overall,
        typologies=tuple(scores),
        lookalikes=_lookalikes(honest, named, truth_all, types),
    )


def _lookalikes(
    honest: Sequence[Label], named: set[Entity], fraud: set[Entity], types: set[str]
) -> tuple[LookalikeScore, ...]:
    by_name: dict[str, set[Entity]] = {}
    for label in honest:
        if label.entity_type in types and label.entity not in fraud:
            by_name.setdefault(label.typology, set()).add(label.entity)
    if not by_name:
        return ()
    every: set[Entity] = set().union(*by_name.values())
    rows = [(name, by_name[name]) for name in sorted(by_name)] + [("all look-alikes", every)]
    return tuple(
        LookalikeScore(name, len(truth), len(truth & named), _ratio(len(truth & named), len(truth)))
        for name, truth in rows
    )


def report_to_json(report: Report) -> dict[str, Any]:
    def score_json(s: Score) -> dict[str, Any]:
        return {
            "labelled_entities": s.labelled,
            "predicted_entities": s.predicted,
            "true_positives": s.true_positives,
            "false_positives": s.false_positives,
            "detected_entities": s.detected,
            "precision": s.precision,
            "recall": s.recall,
            "f1": s.f1,
            "rings": s.rings,
            "rings_detected": s.rings_detected,
            "ring_recall": s.ring_recall,
            "detection_delay_seconds": {
                "cases": s.delay.cases,
                "median": s.delay.median_s,
                "mean": s.delay.mean_s,
                "p90": s.delay.p90_s,
                "min": s.delay.min_s,
                "max": s.delay.max_s,
            },
        }

    return {
        "entity_types": list(report.entity_types),
        "alerts": {
            "read": report.alerts,
            "unique": report.unique_alerts,
            "duplicates": report.duplicate_alerts,
            "unmapped_rule": report.unmapped_alerts,
        },
        "named_entities": report.named_entities,
        "unknown_entities": report.unknown_entities,
        "overall": score_json(report.overall),
        "typologies": {s.name: score_json(s) for s in report.typologies},
        "lookalikes": {
            s.name: {"labelled_entities": s.labelled, "flagged_entities": s.flagged, "rate": s.rate}
            for s in report.lookalikes
        },
    }
