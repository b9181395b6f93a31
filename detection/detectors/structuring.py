"""Detector `structuring`: repeated transfers just under the reporting threshold.

A money-flow rule: transfers that moved money only (see `_transfers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._transfers import TRANSACTIONS, _key
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


class StructuringParams(Params):
    # The reporting threshold in the account's currency. 10,000 is the EUR/GBP/USD
    # level; Poland reports from the PLN equivalent of EUR 15,000 (about 65,000 PLN).
    # 10,000 PLN is an ordinary salary, and a payroll in PLN is not structuring.
    threshold: float = Field(default=10_000, gt=0)
    threshold_by_currency: dict[str, float] = Field(default_factory=lambda: {"PLN": 65_000.0})
    # "Just under": within 10 % below the threshold.
    band_share: float = Field(default=0.9, gt=0, lt=1)
    # One payment just under the threshold is an honest one-off (a car, a deposit);
    # three within a week is a pattern.
    window_days: float = Field(default=7, gt=0)
    min_count: int = Field(default=3, ge=2)


class Structuring(Detector):
    """Repeated transfers just under the reporting threshold within days."""

    rule: ClassVar[str] = "structuring"
    kind = "anomaly"
    handles = TRANSACTIONS
    params_model = StructuringParams
    params: StructuringParams

    def _in_band(self, txn: Txn) -> bool:
        p = self.params
        threshold = p.threshold_by_currency.get(txn.currency, p.threshold)
        return p.band_share * threshold <= txn.amount < threshold

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        if not (txn.is_transfer and flows.moved(txn) and self._in_band(txn)):
            return []
        since = txn.at - int(p.window_days * DAY_MS)
        runs = [
            s
            for s in ctx.sent(txn.account_id, since, txn.at)
            if s.is_transfer
            and flows.moved(s)
            and s.currency == txn.currency
            and self._in_band(s)
            and _key(s) < _key(txn)
        ]
        runs = sorted([*runs, txn], key=_key)
        if len(runs) < p.min_count:
            return []
        return [self._finding(runs, ctx)]

    def _finding(self, runs: Sequence[Txn], ctx: Context) -> Finding:
        p = self.params
        first, last = runs[0], runs[-1]
        threshold = p.threshold_by_currency.get(first.currency, p.threshold)
        account = first.account_id
        entities = [Entity("account", str(account), "structurer")]
        owner = ctx.owner(account)
        if owner is not None:
            entities.append(Entity("customer", str(owner), "structurer"))
        total = sum(t.amount for t in runs)
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The account and the run's first sub-threshold transfer: later transfers of
            # the same run repeat the alert instead of raising new ones.
            anchor=f"{account}:{first.txn_id}",
            score=min(0.95, 0.6 + 0.08 * (len(runs) - p.min_count)),
            entities=entities,
            explanation=(
                f"Account {account} made {len(runs)} transfers of "
                f"{min(t.amount for t in runs):.2f}-{max(t.amount for t in runs):.2f} "
                f"{first.currency} (threshold {threshold:.0f}) in "
                f"{round((last.at - first.at) / DAY_MS, 1)} days, {total:.2f} in all: "
                "amounts kept just under the reporting threshold. Review for a report."
            ),
            evidence={
                "transfers": len(runs),
                "total": round(total, 2),
                "threshold": threshold,
                "currency": first.currency,
                "amounts": [t.amount for t in runs],
                "span_days": round((last.at - first.at) / DAY_MS, 2),
            },
            cypher=views.transactions([t.txn_id for t in runs]),
            txn_ids=[str(t.txn_id) for t in runs],
        )


DETECTOR = Structuring
