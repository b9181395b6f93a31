"""Detector `amount_outlier`: a generic per-account anomaly (no typology): a payment
far above the account's own and its peers' amounts.

Judged only on history up to the event's own time (see `_payments`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._payments import TRANSACTION, _past, _score
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn
from fraudgraph.detection.stats import LogHistogram, median, robust_z


class AmountOutlierParams(Params):
    history_days: float = Field(default=30.0, gt=0)
    # Fewer payments than this and "usual" is not known yet.
    min_history: int = Field(default=20, ge=3)
    # Robust z on log10(amount): 6 sigmas of the account's own spread.
    min_z: float = Field(default=6.0, gt=0)
    # Also far above the account's own maximum: an account that sometimes pays
    # rent or buys flights has a wide range, and anything inside it is ordinary.
    min_times_max: float = Field(default=3.0, ge=1)
    # And above this quantile of everyone's payments on the same channel and
    # currency (the peers), once that many payments have been seen.
    peer_quantile: float = Field(default=0.999, gt=0.5, lt=1)
    min_peer_payments: int = Field(default=5000, ge=100)


class AmountOutlier(Detector):
    rule: ClassVar[str] = "amount_outlier"
    kind = "anomaly"
    handles = TRANSACTION
    params_model = AmountOutlierParams
    params: AmountOutlierParams

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        # Peers' amounts per (channel, currency), as this process has seen them, and
        # the limit last read from each (re-read when the count grew by 1 %).
        self._peers: dict[tuple[str, str], LogHistogram] = {}
        self._limits: dict[tuple[str, str], tuple[int, float]] = {}

    def _peer_limit(self, txn: Txn) -> float | None:
        key = (txn.channel, txn.currency)
        peers = self._peers.setdefault(key, LogHistogram())
        if txn.amount > 0:
            peers.add(txn.amount)
        if peers.total < self.params.min_peer_payments:
            return None
        read_at, limit = self._limits.get(key, (0, 0.0))
        if peers.total > read_at * 1.01:
            limit = peers.quantile(self.params.peer_quantile) or 0.0
            self._limits[key] = (peers.total, limit)
        return limit

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if not txn.counts or txn.status == "declined" or txn.amount <= 0:
            return
        peer_limit = self._peer_limit(txn)
        if peer_limit is None or txn.amount <= peer_limit:
            return
        since = txn.at - int(self.params.history_days * DAY_MS)
        history = [
            t.amount
            for t in _past(ctx.sent(txn.account_id, since, txn.at), txn)
            if t.counts and t.amount > 0
        ]
        if len(history) < self.params.min_history:
            return
        if txn.amount < self.params.min_times_max * max(history):
            return
        logs = [math.log10(a) for a in history]
        z = robust_z(math.log10(txn.amount), logs, min_sigma=0.1)
        if z < self.params.min_z:
            return
        owner = ctx.owner(txn.account_id)
        entities = [Entity("account", str(txn.account_id), "payer")]
        if owner is not None:
            entities.insert(0, Entity("customer", str(owner), "owner"))
        usual = median(history)
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"txn:{txn.txn_id}",
            score=_score(0.4 + 0.02 * (z - self.params.min_z)),
            entities=entities,
            explanation=(
                f"Payment {txn.txn_id} of {txn.amount:,.2f} {txn.currency} from account "
                f"{txn.account_id} is {txn.amount / usual:,.0f}x its usual payment and above "
                f"{self.params.peer_quantile:.1%} of peers' {txn.channel} payments: confirm "
                f"with the customer."
            ),
            evidence={
                "amount": txn.amount,
                "median_30d": round(usual, 2),
                "max_30d": max(history),
                "robust_z": round(z, 1),
                "peer_limit": round(peer_limit, 2),
                "history_payments": len(history),
            },
            cypher=views.transactions([txn.txn_id]),
            txn_ids=[str(txn.txn_id)],
        )


DETECTOR = AmountOutlier
