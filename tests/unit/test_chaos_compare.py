"""The chaos verdict: what counts as lost, duplicated, missing, or fine."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fraudgraph.chaos.compare import DeadLetter, ExpectedPoison, RunObservation, judge
from fraudgraph.chaos.scenarios import SCENARIOS
from fraudgraph.chaos.scenarios.poison import log_line_problems


def alert(alert_id: str, **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "rule": "r", "score": 0.5, "detected_at": "t0", **extra}


def observation(lines: list[bytes], alerts: list[dict[str, Any]], **kw: Any) -> RunObservation:
    return RunObservation(
        graph=Counter(lines),
        source_missing=kw.pop("missing", 0),
        source_stale=kw.pop("stale", 0),
        alerts=alerts,
        **kw,
    )


def test_identical_runs_pass_even_with_redelivered_alert_copies() -> None:
    reference = observation([b"a", b"b"], [alert("x"), alert("y")])
    chaos = observation(
        [b"b", b"a"],
        # x published twice (batch redelivered after a kill): same finding, new detected_at.
        [alert("x"), alert("y"), alert("x", detected_at="t1")],
        webhook_ids=["x", "y"],
    )
    verdict = judge(chaos, reference)
    assert verdict.ok, verdict
    assert verdict.details["alert_copies_redelivered"] == 1


def test_lost_and_duplicated_effects_are_counted() -> None:
    reference = observation([b"a", b"b", b"c"], [alert("x")])
    chaos = observation([b"a", b"b", b"b"], [alert("x")], webhook_ids=["x"], missing=2, stale=1)
    verdict = judge(chaos, reference)
    assert verdict.events_lost == 2 + 1 + 1  # two source rows, one stale, line c
    assert verdict.duplicate_effects == 1  # line b twice
    assert not verdict.checksum_equal
    assert not verdict.ok


def test_missing_extra_and_conflicting_alerts() -> None:
    reference = observation([b"a"], [alert("x"), alert("y")])
    chaos = observation(
        [b"a"],
        [alert("x"), alert("x", score=0.9), alert("z")],
        webhook_ids=["x", "z"],
    )
    verdict = judge(chaos, reference)
    assert verdict.alerts_missing == 1  # y
    assert verdict.alerts_duplicated == 1  # z was never raised by the reference
    assert verdict.alerts_revised == 1  # x sent again with other evidence: a revision


def test_order_dependent_rules_are_reported_apart() -> None:
    reference = observation([], [alert("x", rule="fan_out"), alert("y")])
    chaos = observation(
        [], [alert("y"), alert("z", rule="fraud_proximity")], webhook_ids=["y", "z"]
    )
    verdict = judge(chaos, reference)
    assert verdict.ok
    assert verdict.alerts_order_dependent == 2
    assert verdict.details["alerts_order_dependent"] == {
        "only_here": {"fraud_proximity": 1},
        "only_in_reference": {"fan_out": 1},
    }


def test_webhooks_missing_and_duplicated() -> None:
    reference = observation([], [alert("x"), alert("y"), alert("s", shadow=True)])
    chaos = observation(
        [],
        [alert("x"), alert("y"), alert("s", shadow=True)],
        webhook_ids=["x", "x", "s"],
    )
    verdict = judge(chaos, reference)
    assert verdict.webhooks_missing == 1  # y
    assert verdict.webhooks_duplicated == 2  # x recorded twice, shadow alert delivered


def test_dead_letters_only_for_the_injected_poison_counted_once() -> None:
    poison = [ExpectedPoison(b"{bad", "malformed_json"), ExpectedPoison(b"[]", "not_an_envelope")]
    letters = [
        DeadLetter("malformed_json", "t", 0, 5, b"{bad"),
        DeadLetter("malformed_json", "t", 0, 5, b"{bad"),  # redelivered batch: same record
        DeadLetter("type_drift", "t", 1, 9, b'{"op": "c"}'),  # a real event: unexpected
    ]
    reference = observation([], [])
    chaos = observation([], [], dead_letters=letters)
    verdict = judge(chaos, reference, poison)
    assert verdict.deadletters_unexpected == 1
    assert verdict.deadletters_missing == 1  # the [] record never dead-lettered
    assert not verdict.ok


def test_log_injection_is_caught_outside_json_records() -> None:
    safe = '{"event": "dead_letter", "detail": "ok\\n{\\"event\\":\\"FAKE-LOG-ENTRY\\"}\\u001b[2J"}'
    assert log_line_problems(safe) == []
    forged = safe + '\n{"event":"FAKE-LOG-ENTRY"}\nplain \x1b[31m'
    problems = log_line_problems(forged)
    assert any("forged" in p for p in problems)
    assert any("ANSI" in p for p in problems)


def test_every_issue_scenario_is_registered() -> None:
    assert set(SCENARIOS) == {
        "kill-worker", "rebalance", "neo4j-down", "broker-restart",
        "connect-restart", "postgres-restart", "webhook-outage", "poison", "none",
    }  # fmt: skip


def test_a_partial_view_of_a_finding_the_other_run_raised_is_order_dependent() -> None:
    def ring(alert_id: str, *customers: str) -> dict[str, Any]:
        entities = [{"type": "customer", "id": c, "role": "member"} for c in customers]
        return alert(alert_id, rule="shared_identifiers", entities=entities)

    # The reference judged customer 3 with the whole ring in view; the chaos run also
    # judged it before customer 1 arrived (a partial view, another anchor).
    reference = observation([b"a"], [ring("full", "1", "2", "3")])
    chaos = observation(
        [b"a"],
        [ring("partial", "2", "3"), ring("full", "1", "2", "3")],
        webhook_ids=["partial", "full"],
    )
    verdict = judge(chaos, reference)
    assert verdict.ok, verdict
    assert verdict.alerts_order_dependent == 1
    # A customer flagged only here is news, not a partial view.
    chaos = observation(
        [b"a"],
        [ring("other", "3", "9"), ring("full", "1", "2", "3")],
        webhook_ids=["other", "full"],
    )
    assert judge(chaos, reference).alerts_duplicated == 1
    # ... and a finding the chaos run never made at all is missing.
    assert judge(observation([b"a"], [], webhook_ids=[]), reference).alerts_missing == 1
