"""The verdict of a chaos run against its reference run: pure logic, unit-tested.

Exactly-once *in effect* is what is judged: the alerts topic is at-least-once by
design (a worker killed after publishing but before committing publishes the
same alerts again, under the same ids), so repeated copies of one alert are
counted for information, not as duplicates. A duplicate is a second *effect*:
a graph line the reference does not have, an alert id the reference never
raised or whose copies disagree, or a webhook recorded twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Fields of an alert that legitimately differ between two copies of one finding.
VOLATILE_ALERT_FIELDS = frozenset({"detected_at", "trace_id", "span_id"})
# Detectors whose findings depend on the order events of different topics arrive in
# (a fraud report before or after the payments it points at, a fan-out judged before
# its receivers' withdrawals arrived): the control run (`fraudgraph chaos none`, no
# fault at all) already differs from its reference for the first three, so a
# difference in them says nothing about a fault. identity_ring names a ring after
# the customer it grew from, and which member the worker saw first depends on arrival
# order too (a kill-worker run raised a size-5 tier for a ring the reference credited
# to another founder, the final graph identical). Reported apart as alerts_order_dependent.
ORDER_DEPENDENT_RULES = frozenset(
    {"fraud_proximity", "fan_out", "impossible_travel", "identity_ring"}
)


def flags(alert: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """What an alert says: (rule, entity type, entity id) for each entity it names."""
    rule = str(alert.get("rule"))
    return {(rule, str(e["type"]), str(e["id"])) for e in alert.get("entities") or ()}


def covered(alert: Mapping[str, Any], flagged_by_other: set[tuple[str, str, str]]) -> bool:
    """Whether the other run flagged (see `flagged`), under the same rule, every entity
    this alert names.

    An alert id one run raised and the other did not is then a partial view of the
    same finding, not a miss: judged before all of its events had arrived (a member
    of a ring before the ring's first customer, a burst before its first payment),
    under a different anchor. Detection is at-least-once in *what is flagged*; which
    partial views occur depends on arrival order (see detection/engine.py).
    """
    said = flags(alert)
    return bool(said) and said <= flagged_by_other


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    topic: str  # where the poisoned record was (dlq.topic)
    partition: int
    offset: int
    value: bytes | None


@dataclass
class RunObservation:
    graph: Counter[bytes]
    source_missing: int  # source rows absent from the graph
    source_stale: int  # graph rows the source no longer has
    alerts: list[dict[str, Any]]  # every record of the alerts topic, in order
    webhook_ids: list[str] = field(default_factory=list)  # the receiver's first-seen ledger
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class ExpectedPoison:
    value: bytes
    reason: str


@dataclass
class Verdict:
    events_lost: int
    duplicate_effects: int
    alerts_missing: int
    alerts_duplicated: int
    webhooks_missing: int
    webhooks_duplicated: int
    deadletters_unexpected: int
    deadletters_missing: int
    checksum_equal: bool
    alerts_order_dependent: int
    # An episode's alert sent again under its id with newer evidence (a later payment
    # of the same burst or trip triggered it): the worker's memory of what it sent does
    # not survive a kill -9. Consumers and the webhook receiver dedupe by id, so this is
    # a revision, not a second finding; reported, not failed.
    alerts_revised: int
    details: dict[str, Any]

    @property
    def ok(self) -> bool:
        counts = (
            self.events_lost,
            self.duplicate_effects,
            self.alerts_missing,
            self.alerts_duplicated,
            self.webhooks_missing,
            self.webhooks_duplicated,
            self.deadletters_unexpected,
            self.deadletters_missing,
        )
        return self.checksum_equal and not any(counts)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def flagged(alerts: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for alert in alerts:
        found |= flags(alert)
    return found


def alert_ids(alerts: Iterable[Mapping[str, Any]]) -> Counter[str]:
    return Counter(str(alert["alert_id"]) for alert in alerts)


def conflicting_alerts(alerts: Iterable[Mapping[str, Any]]) -> set[str]:
    """Alert ids whose copies differ beyond the volatile fields: two findings, one id."""
    versions: dict[str, set[bytes]] = {}
    for alert in alerts:
        stable = {k: v for k, v in alert.items() if k not in VOLATILE_ALERT_FIELDS}
        versions.setdefault(str(alert["alert_id"]), set()).add(
            repr(sorted(stable.items())).encode()
        )
    return {alert_id for alert_id, seen in versions.items() if len(seen) > 1}


def webhook_expected(alerts: Iterable[Mapping[str, Any]]) -> set[str]:
    """Alert ids a catch-all endpoint must receive: every non-shadow alert."""
    return {str(a["alert_id"]) for a in alerts if not a.get("shadow")}


def dead_letter_match(
    letters: Iterable[DeadLetter], expected: Iterable[ExpectedPoison]
) -> tuple[int, int, list[str]]:
    """(unexpected letters, expected poison never dead-lettered, problems).

    A poisoned record dead-lettered twice (its batch redelivered after a crash) is
    one letter: letters are told apart by the coordinates of the poisoned record.
    """
    wanted = {(p.value, p.reason) for p in expected}
    unique = {(d.topic, d.partition, d.offset): d for d in letters}
    seen: set[tuple[bytes, str]] = set()
    problems: list[str] = []
    unexpected = 0
    for letter in unique.values():
        found = (letter.value or b"", letter.reason)
        if found in wanted:
            seen.add(found)
        else:
            unexpected += 1
            problems.append(
                f"unexpected dead letter {letter.reason} at {letter.topic}@{letter.offset}"
            )
    missing = len(wanted - seen)
    problems += [f"poison not dead-lettered: {reason}" for _, reason in sorted(wanted - seen)]
    return unexpected, missing, problems


def rules_of(alerts: Iterable[Mapping[str, Any]], ids: set[str]) -> dict[str, int]:
    """How many of `ids` each rule raised (which detectors disagree, not opaque ids)."""
    rules = {str(a["alert_id"]): str(a.get("rule")) for a in alerts}
    return dict(Counter(rules[i] for i in sorted(ids)))


def judge(
    chaos: RunObservation,
    reference: RunObservation,
    poison: Iterable[ExpectedPoison] = (),
    webhooks_checked: bool = True,
) -> Verdict:
    lines_missing = reference.graph - chaos.graph
    lines_extra = chaos.graph - reference.graph
    chaos_ids, reference_ids = alert_ids(chaos.alerts), alert_ids(reference.alerts)
    rules = {str(a["alert_id"]): str(a.get("rule")) for a in [*chaos.alerts, *reference.alerts]}
    differing = set(reference_ids) ^ set(chaos_ids)
    by_id = {str(a["alert_id"]): a for a in [*reference.alerts, *chaos.alerts]}
    other_run = {"chaos": flagged(chaos.alerts), "reference": flagged(reference.alerts)}
    order_dependent = {
        i
        for i in differing
        if rules[i] in ORDER_DEPENDENT_RULES
        or covered(by_id[i], other_run["chaos" if i in reference_ids else "reference"])
    }
    missing_alerts = set(reference_ids) - set(chaos_ids) - order_dependent
    extra_alerts = set(chaos_ids) - set(reference_ids) - order_dependent
    conflicts = conflicting_alerts(chaos.alerts)
    expected_hooks = webhook_expected(chaos.alerts)
    ledger = Counter(chaos.webhook_ids)
    hooks_missing = len(expected_hooks - set(ledger)) if webhooks_checked else 0
    hooks_duplicated = (
        sum(n - 1 for n in ledger.values()) + len(set(ledger) - expected_hooks)
        if webhooks_checked
        else 0
    )
    unexpected, not_lettered, problems = dead_letter_match(chaos.dead_letters, poison)
    return Verdict(
        events_lost=chaos.source_missing + chaos.source_stale + sum(lines_missing.values()),
        duplicate_effects=sum(lines_extra.values()),
        alerts_missing=len(missing_alerts),
        alerts_duplicated=len(extra_alerts),
        webhooks_missing=hooks_missing,
        webhooks_duplicated=hooks_duplicated,
        deadletters_unexpected=unexpected,
        deadletters_missing=not_lettered,
        checksum_equal=chaos.graph == reference.graph,
        alerts_order_dependent=len(order_dependent),
        alerts_revised=len(conflicts),
        details={
            "source_rows_missing": chaos.source_missing,
            "source_rows_stale": chaos.source_stale,
            "graph_lines": sum(chaos.graph.values()),
            "reference_lines_missing": sum(lines_missing.values()),
            "sample_lines_missing": [line.decode()[:300] for line in list(lines_missing)[:3]],
            "sample_lines_extra": [line.decode()[:300] for line in list(lines_extra)[:3]],
            "alerts": len(chaos_ids),
            "reference_alerts": len(reference_ids),
            "alert_copies_redelivered": sum(chaos_ids.values()) - len(chaos_ids),
            "alerts_unexpected": rules_of(chaos.alerts, extra_alerts),
            "alerts_not_raised": rules_of(reference.alerts, missing_alerts),
            "alerts_order_dependent": {
                "only_here": rules_of(chaos.alerts, order_dependent & set(chaos_ids)),
                "only_in_reference": rules_of(reference.alerts, order_dependent - set(chaos_ids)),
            },
            "alerts_conflicting": sorted(conflicts)[:10],
            "webhooks_expected": len(expected_hooks) if webhooks_checked else None,
            "webhooks_recorded": len(ledger) if webhooks_checked else None,
            "dead_letters": len(chaos.dead_letters),
            "dead_letter_problems": problems[:10],
        },
    )
