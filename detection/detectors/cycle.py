"""Detector `cycle`: round-tripping, money coming back to the account it left.

A money-flow rule: transfers that moved money only (see `_transfers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._transfers import TRANSACTIONS, _hours
from fraudgraph.detection.events import Event
from fraudgraph.detection.flows import PassOn
from fraudgraph.detection.history import Txn


class CycleParams(Params):
    min_amount: float = Field(default=1_000, gt=0)
    # Round-tripping returns (almost) the whole sum: each hop loses a small fee
    # (well under 5 %), unlike a mule chain whose every hop keeps a real cut.
    kept_min: float = Field(default=0.95, gt=0, le=1)
    kept_max: float = Field(default=1.0, gt=0, le=1)
    # Hops are hours to a day apart, so a loop of a handful of accounts closes in days.
    max_hold_hours: float = Field(default=24, gt=0)
    max_hops: int = Field(default=8, ge=3)
    # Friends settling a debt send the same sum back and forth (two parties); a
    # round trip needs at least three owners for the money to look like income.
    min_parties: int = Field(default=3, ge=2)


class Cycle(Detector):
    """Money that comes back to the account it left, through other people's accounts."""

    rule: ClassVar[str] = "cycle"
    kind = "link"
    handles = TRANSACTIONS
    params_model = CycleParams
    params: CycleParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        if not (flows.internal_transfer(txn) and txn.amount >= p.min_amount):
            return []
        passing = PassOn(p.kept_min, p.kept_max, int(p.max_hold_hours * HOUR_MS))
        loop = flows.loop_back(ctx, txn, passing, p.max_hops, min_hops=p.min_parties)
        if loop is None:
            return []
        accounts = list(dict.fromkeys(t.account_id for t in loop))
        owner_of = flows.owners(ctx, accounts)
        if len({owner_of.get(a, -a) for a in accounts}) < p.min_parties:
            return []
        return [self._finding(loop, accounts, owner_of)]

    def _finding(
        self, loop: Sequence[Txn], accounts: list[int], owner_of: dict[int, int]
    ) -> Finding:
        first, last = loop[0], loop[-1]
        roles = [(accounts[0], "origin"), *((a, "member") for a in accounts[1:])]
        span = last.at - first.at
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=str(first.txn_id),  # the loop's first transfer: one alert per loop
            score=min(0.95, 0.7 + 0.05 * (len(loop) - 3)),
            entities=flows.party_entities(roles, owner_of),
            explanation=(
                f"{first.amount:.2f} {first.currency} left account {first.account_id} and "
                f"{last.amount:.2f} came back to it through {len(accounts) - 1} other accounts "
                f"in {round(span / DAY_MS, 1)} days: round-tripping. Review the origin's "
                "income and the members."
            ),
            evidence={
                "hops": len(loop),
                "amounts": [t.amount for t in loop],
                "currency": first.currency,
                "returned_share": round(last.amount / first.amount, 4),
                "span_hours": _hours(span),
                "accounts": accounts,
            },
            cypher=views.money_flow(accounts, [t.txn_id for t in loop]),
            txn_ids=[str(t.txn_id) for t in loop],
        )


DETECTOR = Cycle
