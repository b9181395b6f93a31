"""What the money-flow detectors share: the events they handle, transfer order, hours.

The money-flow rules are `mule_chain`, `fan_in`, `fan_out`, `cycle` and `structuring`.
Each rule looks at transfers only (card payments move money to merchants, not
between people) and only at money that moved (declined or reversed transfers did
not). Amounts are compared in the account's currency, and amount thresholds are in
that currency too.
"""

from __future__ import annotations

from fraudgraph.detection.context import HOUR_MS
from fraudgraph.detection.events import EventKind
from fraudgraph.detection.history import Txn

TRANSACTIONS: frozenset[EventKind] = frozenset({"transaction"})


def _key(txn: Txn) -> tuple[int, int]:
    """Event-time order, ties broken by id: what happened before what."""
    return (txn.at, txn.txn_id)


def _hours(ms: int) -> float:
    return round(ms / HOUR_MS, 2)
