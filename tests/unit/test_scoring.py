"""Scorer arithmetic on hand-made labels and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from fraudgraph.evaluation import sources
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from fraudgraph.evaluation.scoring import RuleMap, f1_score, report_to_json, score
from fraudgraph.simulator.labels import Label

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def label(typology: str, case: str, kind: str, entity_id: str, minutes: int = 0) -> Label:
    at = T0 + timedelta(minutes=minutes)
    return Label(typology, case, kind, entity_id, "member", at, at + timedelta(minutes=5))


LABELS = [
    # ring R1: customers 1-4 and their accounts 11-14; first event at T0
    *(label("synthetic_identity", "R1", "customer", str(i)) for i in range(1, 5)),
    *(label("synthetic_identity", "R1", "account", str(10 + i)) for i in range(1, 5)),
    label("synthetic_identity", "R1", "device", "900"),
    # mule chain M1: accounts 21-23, first event 60 minutes after T0
    *(label("mule_chain", "M1", "account", str(i), minutes=60) for i in (21, 22, 23)),
    # mule chain M2: accounts 31-32
    *(label("mule_chain", "M2", "account", str(i), minutes=120) for i in (31, 32)),
]

RULES = RuleMap.from_json(
    {
        "rules": [
            {"pattern": "*ring*", "typologies": ["synthetic_identity"]},
            {"pattern": "*mule*", "typologies": ["mule_chain"]},
        ]
    }
)


def alert(
    alert_id: str, rule: str, entities: list[tuple[str, str]], minutes: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "kind": "link",
        "rule": rule,
        "severity": "high",
        "score": 0.9,
        "entities": [{"type": t, "id": i} for t, i in entities],
        "detected_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "explanation": "test",
        **extra,
    }


def by_name(report: Any, name: str) -> Any:
    return next(s for s in report.typologies if s.name == name)


def test_precision_recall_f1_per_typology_and_overall() -> None:
    alerts = [
        # ring rule: customers 1, 2, 3 (TP) and customer 99 (unknown: FP)
        alert(
            "a1",
            "identity_ring",
            [("customer", "1"), ("customer", "2"), ("customer", "3"), ("customer", "99")],
            30,
        ),
        # mule rule: accounts 21, 22 (TP) and account 11 (a ring's: FP for mule_chain)
        alert("a2", "mule_path", [("account", "21"), ("account", "22"), ("account", "11")], 90),
        # a card is not scored by default
        alert("a3", "mule_path", [("card", "5")], 100),
    ]
    report = score(LABELS, alerts, RULES)
    ring = by_name(report, "synthetic_identity")
    assert (ring.labelled, ring.predicted, ring.true_positives, ring.false_positives) == (
        8,
        4,
        3,
        1,
    )
    assert ring.precision == pytest.approx(3 / 4)
    assert ring.detected == 4  # customers 1-3 by a1, account 11 by a2 (recall is rule-agnostic)
    assert ring.recall == pytest.approx(4 / 8)
    assert ring.f1 == pytest.approx(f1_score(3 / 4, 4 / 8))
    assert (ring.rings, ring.rings_detected) == (1, 1)  # 4 of 8 members named: half counts

    mule = by_name(report, "mule_chain")
    assert (mule.labelled, mule.predicted, mule.true_positives, mule.false_positives) == (
        5,
        3,
        2,
        1,
    )
    assert mule.precision == pytest.approx(2 / 3)
    assert mule.recall == pytest.approx(2 / 5)
    assert (mule.rings, mule.rings_detected) == (2, 1)  # M1: 2 of 3 named; M2: none

    overall = report.overall
    assert (overall.labelled, overall.predicted, overall.true_positives) == (13, 7, 6)
    assert overall.precision == pytest.approx(6 / 7)
    assert overall.recall == pytest.approx(6 / 13)
    assert report.unknown_entities == 1
    assert (overall.rings, overall.rings_detected) == (3, 2)


def test_duplicates_count_once() -> None:
    once = [alert("a1", "identity_ring", [("customer", "1"), ("customer", "99")])]
    replayed = once * 3 + [alert("a2", "identity_ring", [("customer", "1"), ("customer", "1")])]
    first, again = score(LABELS, once, RULES), score(LABELS, replayed, RULES)
    assert report_to_json(first)["overall"] == report_to_json(again)["overall"]
    assert again.duplicate_alerts == 2 and again.unique_alerts == 2
    assert again.overall.true_positives == 1 and again.overall.false_positives == 1


def test_unknown_entities_only_lower_precision() -> None:
    report = score(
        LABELS, [alert("x", "identity_ring", [("customer", "500"), ("account", "501")])], RULES
    )
    assert report.overall.precision == 0.0 and report.overall.recall == 0.0
    assert by_name(report, "synthetic_identity").false_positives == 2
    assert report.unknown_entities == 2


def test_no_alerts_no_precision_zero_recall() -> None:
    report = score(LABELS, [], RULES)
    assert report.overall.precision is None and report.overall.recall == 0.0
    assert by_name(report, "mule_chain").precision is None
    assert report.overall.f1 is None


def test_unmapped_rule_counts_overall_only() -> None:
    report = score(LABELS, [alert("u", "proximity_to_known_fraud", [("account", "31")])], RULES)
    assert report.unmapped_alerts == 1
    assert by_name(report, "mule_chain").predicted is None
    assert by_name(report, "mule_chain").recall == pytest.approx(1 / 5)
    assert report.overall.precision == 1.0


def test_detection_delay_in_event_time() -> None:
    alerts = [
        # detected_at is wall-clock; evidence.event_time is the event time used
        alert(
            "d1",
            "mule_path",
            [("account", "21")],
            minutes=10_000,
            evidence={"event_time": (T0 + timedelta(minutes=75)).isoformat()},
        ),
        alert(
            "d2",
            "mule_path",
            [("account", "22")],
            minutes=10_000,
            source_committed_at=(T0 + timedelta(minutes=70)).isoformat(),
        ),
        alert(
            "d3", "identity_ring", [("device", "900")], minutes=-30
        ),  # before the ring's first event
    ]
    report = score(LABELS, alerts, RULES)
    mule = by_name(report, "mule_chain")
    assert mule.delay.cases == 1 and mule.delay.median_s == pytest.approx(10 * 60)
    ring = by_name(report, "synthetic_identity")
    assert ring.delay.median_s == pytest.approx(
        -30 * 60
    )  # devices count for delay though not scored
    assert ring.recall == 0.0


def test_entity_types_are_configurable() -> None:
    alerts = [alert("c", "mule_path", [("card", "5"), ("device", "900")])]
    report = score(LABELS, alerts, RULES, entity_types=("device", "card"))
    assert report.overall.labelled == 1 and report.overall.true_positives == 1
    assert report.overall.false_positives == 1


def test_default_rule_map_and_own_typology_field() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    assert rules.typologies({"rule": "card-testing.burst"}) == ("card_testing",)
    assert rules.typologies({"rule": "ATO new device payout"}) == ("account_takeover",)
    assert rules.typologies({"rule": "shared_device"}) == ("synthetic_identity",)
    assert rules.typologies({"rule": "rotation"}) == ()
    assert rules.typologies({"rule": "louvain", "kind": "cluster"}) == ("synthetic_identity",)
    assert rules.typologies({"rule": "x", "typology": "cycle"}) == ("cycle",)


def test_invalid_alerts_are_counted_not_fatal(tmp_path: Path) -> None:
    good = alert("g", "mule_path", [("account", "21")])
    bad_severity = {**good, "alert_id": "b", "severity": "apocalyptic"}
    no_entities = {**good, "alert_id": "n", "entities": []}
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                orjson.dumps(good),
                b"{not json",
                orjson.dumps(bad_severity),
                orjson.dumps(no_entities),
                orjson.dumps(good),
            ]
        )
        + b"\n"
    )
    batch = sources.read_file(path)
    assert batch.read == 5 and batch.invalid == 3 and len(batch.alerts) == 2
    assert batch.first_error is not None and batch.first_error.startswith(
        "alerts.jsonl:2: not JSON"
    )
    report = score(LABELS, batch.alerts, RULES)
    assert report.duplicate_alerts == 1 and report.overall.true_positives == 1


def test_look_alikes_are_not_truth_and_get_a_flag_rate() -> None:
    at = T0
    honest = [
        Label("lookalike_fan_in", "L1", "account", str(i), "tenant", at, at, "lookalike")
        for i in (41, 42, 43, 44)
    ]
    alerts = [alert("a1", "fan_in_rule", [("account", "41"), ("account", "42"), ("account", "11")])]
    report = score([*LABELS, *honest], alerts, RULES)
    assert [s.name for s in report.typologies] == ["mule_chain", "synthetic_identity"]
    assert report.overall.false_positives == 2  # flagging honest look-alikes costs precision
    (per_pattern, every) = report.lookalikes
    assert (per_pattern.name, per_pattern.labelled, per_pattern.flagged) == (
        "lookalike_fan_in",
        4,
        2,
    )
    assert every.rate == 0.5
    assert report_to_json(report)["lookalikes"]["lookalike_fan_in"]["rate"] == 0.5
    assert score(LABELS, alerts, RULES).lookalikes == ()
