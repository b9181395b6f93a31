"""Findings of the detectors and the alerts they become (contracts/alert.schema.json).

A detector returns a `Finding`: what it saw, who is implicated and why. The alert's
identity is derived from the finding alone (`rule` and `anchor`), never from the
time it was raised, so the same finding found again after a replay, a restart or a
redelivery carries the same `alert_id` and every consumer can deduplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import jsonschema
import orjson

from fraudgraph.paths import ALERT_SCHEMA_JSON

Kind = Literal["link", "anomaly", "cluster"]
Severity = Literal["low", "medium", "high", "critical"]
EntityType = Literal["customer", "account", "card", "device", "ip", "merchant", "transaction"]
SEVERITY_ORDER: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Entity:
    type: EntityType
    id: str
    role: str | None = None

    def as_json(self) -> dict[str, str]:
        entity = {"type": self.type, "id": self.id}
        if self.role:
            entity["role"] = self.role
        return entity


@dataclass(frozen=True)
class Finding:
    """One detector's conclusion about one situation.

    `anchor` names the situation independently of when it was seen (e.g. the
    payout transaction of a takeover, the founding members of a ring and its size
    tier): it is what makes the alert id stable.
    """

    rule: str
    kind: Kind
    anchor: str
    score: float
    entities: Sequence[Entity]
    explanation: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    cypher: str | None = None
    txn_ids: Sequence[str] = ()
    event_time_ms: int | None = None  # event time of the triggering row
    source_committed_at_ms: int | None = None
    trace_id: str | None = None
    severity: Severity | None = None  # None: derived from the score

    @property
    def alert_id(self) -> str:
        return alert_id(self.rule, self.anchor)


def alert_id(rule: str, anchor: str) -> str:
    digest = hashlib.sha256(f"{rule}\x1f{anchor}".encode()).hexdigest()
    return f"fa-{digest[:32]}"


def severity_for(score: float) -> Severity:
    if score >= 0.9:
        return "critical"
    if score >= 0.75:
        return "high"
    if score >= 0.5:
        return "medium"
    return "low"


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_alert(finding: Finding, detected_at_ms: int, shadow: bool = False) -> dict[str, Any]:
    """The alert record (topic value and webhook body) for a finding."""
    score = min(1.0, max(0.0, round(finding.score, 4)))
    evidence = dict(finding.evidence)
    if finding.event_time_ms is not None:
        # The scorer measures detection delay in event time from here, so a replay
        # of history scores the same as the live run.
        evidence.setdefault("event_time", iso_ms(finding.event_time_ms))
    alert: dict[str, Any] = {
        "alert_id": finding.alert_id,
        "kind": finding.kind,
        "rule": finding.rule,
        "severity": finding.severity or severity_for(score),
        "score": score,
        "entities": [entity.as_json() for entity in _unique(finding.entities)],
        "txn_ids": list(dict.fromkeys(finding.txn_ids)),
        "detected_at": iso_ms(detected_at_ms),
        "source_committed_at": iso_ms(finding.source_committed_at_ms)
        if finding.source_committed_at_ms is not None
        else None,
        "explanation": finding.explanation,
        "evidence": evidence,
    }
    if finding.cypher:
        alert["cypher"] = finding.cypher
    if finding.trace_id:
        alert["trace_id"] = finding.trace_id
    if shadow:
        alert["shadow"] = True
    return alert


def _unique(entities: Sequence[Entity]) -> list[Entity]:
    """Each (type, id) once, keeping the first role given."""
    seen: dict[tuple[str, str], Entity] = {}
    for entity in entities:
        seen.setdefault((entity.type, entity.id), entity)
    return list(seen.values())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = orjson.loads(ALERT_SCHEMA_JSON.read_bytes())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def alert_errors(alert: Mapping[str, Any]) -> list[str]:
    """Why `alert` breaks the contract (empty when it does not)."""
    return [error.message for error in _validator().iter_errors(dict(alert))]


def severity_at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(minimum)
