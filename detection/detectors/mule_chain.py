"""Detector `mule_chain`: money handed on from account to account within hours.

A money-flow rule: transfers that moved money only (see `_transfers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._transfers import TRANSACTIONS, _hours
from fraudgraph.detection.events import Event
from fraudgraph.detection.flows import PassOn
from fraudgraph.detection.history import Txn


class MuleChainParams(Params):
    # Layering moves thousands; everyday transfers between friends are tens, so small
    # transfers are never followed (it also keeps the walk off most of the traffic).
    min_amount: float = Field(default=1_000, gt=0)
    # Share of what a mule received that it passes on: mules keep a cut of a few per
    # cent (3-10 %). Round-tripping loses well under 2.5 % per hop and has its own
    # rule (`cycle`), so an upper bound of 97.5 % keeps the two apart.
    kept_min: float = Field(default=0.85, gt=0, le=1)
    kept_max: float = Field(default=0.975, gt=0, le=1)
    # Mules forward within hours (20 min to 3 h); honest money that comes in and goes
    # out again (salary, then rent) is days apart.
    max_hold_hours: float = Field(default=6, gt=0)
    # Hops walked back from the triggering transfer: 2 means at least two accounts
    # passed the money on (A -> B -> C -> D). A single pass-on (A -> B -> out) is what
    # every fan-out receiver does and is left to the fan-out rule.
    min_hops: int = Field(default=2, ge=1)
    max_hops: int = Field(default=12, ge=1)


class MuleChain(Detector):
    """Money handed on from account to account within hours, each keeping a cut."""

    rule: ClassVar[str] = "mule_chain"
    kind = "link"
    handles = TRANSACTIONS
    params_model = MuleChainParams
    params: MuleChainParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        if not (txn.is_transfer and flows.moved(txn) and txn.amount >= p.min_amount):
            return []
        passing = PassOn(p.kept_min, p.kept_max, int(p.max_hold_hours * HOUR_MS))
        trail = flows.trail_back(ctx, txn, passing, p.max_hops)
        if len(trail) - 1 < p.min_hops:
            return []
        return [self._finding(trail, ctx)]

    def _finding(self, trail: Sequence[Txn], ctx: Context) -> Finding:
        accounts = flows.trail_accounts(trail)
        last = trail[-1]
        exits_bank = last.counterparty_account_id is None
        roles = [(a, "mule") for a in accounts]
        roles[0] = (accounts[0], "placement")
        roles[-1] = (accounts[-1], "exit")
        kept = [b.amount / a.amount for a, b in pairwise(trail)]
        span = last.at - trail[0].at
        first = trail[0]
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The chain's first transfer names it; each new hop grows the chain and
            # gives a new alert that names the newly reached accounts too.
            anchor=f"{first.txn_id}:{len(trail)}",
            score=min(0.95, 0.55 + 0.1 * (len(trail) - 2)),
            entities=flows.party_entities(roles, flows.owners(ctx, accounts)),
            explanation=(
                f"{first.amount:.2f} {first.currency} from account {first.account_id} was "
                f"passed on through {len(trail) - 1} further accounts in {_hours(span)} h, each "
                f"keeping {100 * (1 - max(kept)):.1f}-{100 * (1 - min(kept)):.1f} %; "
                f"{last.amount:.2f} "
                + ("left the bank." if exits_bank else f"reached account {accounts[-1]}.")
                + " Hold the chain's accounts and trace the exit."
            ),
            evidence={
                "hops": len(trail),
                "amounts": [t.amount for t in trail],
                "currency": first.currency,
                "kept_shares": [round(k, 4) for k in kept],
                "hold_hours": [_hours(b.at - a.at) for a, b in pairwise(trail)],
                "span_hours": _hours(span),
                "accounts": accounts,
                "exits_bank": exits_bank,
            },
            cypher=views.money_flow(accounts, [t.txn_id for t in trail]),
            txn_ids=[str(t.txn_id) for t in trail],
        )


DETECTOR = MuleChain
