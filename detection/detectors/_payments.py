"""What the behaviour detectors share: payment channels, a trigger's past, scores.

The behaviour rules (a customer, card or account acting unlike itself) are
`impossible_travel`, `card_testing`, `account_takeover`, `amount_outlier` and
`velocity_burst`.

Every detector judges an event only on history up to the event's own time, so a
snapshot (all customers first, then logins, then payments) and a live stream raise
the same findings with the same anchors.
"""

from __future__ import annotations

from collections.abc import Iterable

from fraudgraph.detection.events import EventKind
from fraudgraph.detection.history import Txn

MINUTE_MS = 60_000
PRESENT_CHANNELS = frozenset({"card_present", "atm"})
CARD_CHANNELS = frozenset({"card_present", "card_not_present", "atm"})
NOT_PRESENT = "card_not_present"
TRANSACTION: frozenset[EventKind] = frozenset({"transaction"})


def _past(txns: Iterable[Txn], trigger: Txn) -> list[Txn]:
    """`txns` (the context answers in time order) up to the trigger, without it."""
    return [t for t in txns if t.at <= trigger.at and t.txn_id != trigger.txn_id]


def _score(value: float) -> float:
    return round(min(0.99, max(0.0, value)), 3)
