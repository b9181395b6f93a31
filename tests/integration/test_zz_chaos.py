"""Short chaos runs against the session stack (named to run last: they stop services).

Each runs the real scenario of `fraudgraph chaos` at a low rate for well under a
minute of load and demands: nothing lost, nothing duplicated in effect (graph
checksum equal to the reference), every alert raised delivered to the webhook once,
dead letters only for the injected poison, and every service healthy afterwards.

Alert sets are compared with the reference within a bound, not exactly: which
episode an alert is anchored on depends on the order events of different topics
reach the worker (the no-fault control run already differs from its reference, on
a few of ~200 alerts). `fraudgraph chaos` reports every such difference.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from fraudgraph.chaos.harness import run_scenario
from fraudgraph.chaos.options import ChaosOptions
from fraudgraph.chaos.scenarios import SCENARIOS
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack

pytestmark = pytest.mark.integration

ZERO = (
    "events_lost", "duplicate_effects",
    "webhooks_missing", "webhooks_duplicated", "deadletters_unexpected", "deadletters_missing",
)  # fmt: skip
# Alerts differing from the reference by arrival order (see above), at most this share.
ORDER_DIVERGENCE = 0.03


def short_run(scenario: str, stack: Stack, settings: Settings, outage: float) -> dict[str, Any]:
    options = ChaosOptions(
        rate=30, duration=30, outage=outage, customers=100, seed=3, recovery_timeout=300
    )
    return run_scenario(SCENARIOS[scenario](), settings, stack, options, Console(stderr=True))


def assert_survived(result: dict[str, Any], stack: Stack) -> None:
    assert {key: result[key] for key in ZERO} == dict.fromkeys(ZERO, 0), result["details"]
    assert result["checksum_equal"], result["details"]
    differing = result["alerts_missing"] + result["alerts_duplicated"]
    reference = result["details"]["reference_alerts"]
    assert reference > 0
    assert differing <= ORDER_DIVERGENCE * reference, result["details"]
    assert result["events"] > 0 and result["events_per_s"] > 0
    assert result["recovery_s"] > 0
    unhealthy = [row.name for row in stack.status() if not row.healthy]
    assert not unhealthy, f"left unhealthy: {unhealthy}"


def test_kill_9_the_worker_repeatedly(stack: Stack, settings: Settings) -> None:
    result = short_run("kill-worker", stack, settings, outage=15)
    assert_survived(result, stack)
    kills = [e for e in result["process_exits"] if e["child"] == "worker-1"]
    assert len(kills) >= 2, result["process_exits"]


def test_poison_and_hostile_input(stack: Stack, settings: Settings) -> None:
    result = short_run("poison", stack, settings, outage=5)
    assert_survived(result, stack)
    checks = result["scenario_checks"]
    assert checks["hostile_merchants_checked"] == 12
    assert checks["poison_problems"] == []
    assert checks["log_problems"] == []
    assert result["details"]["dead_letters"] >= 20  # two waves of ten poison records


def test_neo4j_stopped_and_started(stack: Stack, settings: Settings) -> None:
    result = short_run("neo4j-down", stack, settings, outage=15)
    assert_survived(result, stack)


def test_two_workers_in_one_group_with_one_killed(stack: Stack, settings: Settings) -> None:
    """Shared partitions: each batch is acked only after its second judgement, so a
    rebalance waits for those and the kill redelivers what was not judged twice."""
    result = short_run("rebalance", stack, settings, outage=10)
    assert_survived(result, stack)
    notes = [note for _, note in result["timeline"]]
    assert any(note.startswith("kill -9 worker-2") for note in notes), notes
