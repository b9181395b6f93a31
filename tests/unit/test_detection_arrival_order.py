"""Every detector over a simulated bank whose topics reach the worker at different
paces: what in-order processing raises is raised whatever the order, but for the rules
the chaos verdict already counts as order dependent (chaos/compare.py).

The chaos runs found the first gap this guards (a restarted worker judging a ring's
transfers before its backlog of the ring's customers); here it is found in seconds,
in memory, with the engine, detectors and model the worker runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.chaos.compare import ORDER_DEPENDENT_RULES, covered, flagged
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import load_detection_config
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.options import make_options
from tests.unit.detect_support import deliver_in_batches

Delivery = Callable[[list[RowChange]], list[RowChange]]
BATCH = 50  # changes per batch, as a worker under load takes them


@pytest.fixture(scope="module")
def tables() -> dict[str, Any]:
    # The chaos suite's bank: a synthetic ring, mules, cards, takeovers in two days.
    return dict(generate(make_options(seed=3, customers=100, days=2)).tables)


def delivered(tables: dict[str, Any], deliver: Delivery) -> list[dict[str, Any]]:
    """Every alert the worker's detectors raise, the changes arriving in `deliver`'s
    order, each batch written to the graph before it is judged."""
    config = load_detection_config()
    return deliver_in_batches(tables, build_detectors(config), deliver, config, batch=BATCH)


def in_time(changes: list[RowChange]) -> list[RowChange]:
    return changes


def half_late(table: str) -> Delivery:
    """The later half of `table`'s rows after every other change: its topic ran
    behind (a restarted worker's backlog)."""

    def deliver(changes: list[RowChange]) -> list[RowChange]:
        rows = [c for c in changes if c.table == table]
        late = {id(c) for c in rows[len(rows) // 2 :]}
        return [c for c in changes if id(c) not in late] + [c for c in changes if id(c) in late]

    deliver.__name__ = f"{table}_late"
    return deliver


# A payment judged before its account arrived has no owner; before its owner's
# customer row, no identifiers: what the learned scorer reads of both is as of now.
customers_late = half_late("customers")
accounts_late = half_late("accounts")


def tables_interleaved(changes: list[RowChange]) -> list[RowChange]:
    """Each table in its own order, the tables interleaved at random (fixed seed): every
    topic read at a pace of its own."""
    rng = random.Random(7)
    queues: dict[str, list[RowChange]] = {}
    for change in changes:
        queues.setdefault(change.table, []).append(change)
    out: list[RowChange] = []
    while queues:
        table = rng.choice(sorted(queues))
        out.append(queues[table].pop(0))
        if not queues[table]:
            del queues[table]
    return out


def payments_first(changes: list[RowChange]) -> list[RowChange]:
    """Every payment before every other change: the transactions topic read to its
    end before the others (accounts and customers arrive after their payments)."""
    payments = [c for c in changes if c.table == "transactions"]
    return payments + [c for c in changes if c.table != "transactions"]


@pytest.mark.parametrize(
    "deliver",
    [customers_late, accounts_late, payments_first, tables_interleaved],
    ids=lambda d: d.__name__,
)
def test_what_in_order_processing_raises_is_raised_whatever_the_order(
    tables: dict[str, Any], deliver: Delivery
) -> None:
    reference = delivered(tables, in_time)
    assert {a["rule"] for a in reference} >= {"learned_risk", "identity_ring"}
    late = delivered(tables, deliver)
    raised = {a["alert_id"] for a in late}
    seen_late = flagged(late)
    missing = [
        a
        for a in reference
        if a["alert_id"] not in raised
        and a["rule"] not in ORDER_DEPENDENT_RULES
        and not covered(a, seen_late)
    ]
    assert [(a["rule"], a["txn_ids"][:3]) for a in missing] == []
