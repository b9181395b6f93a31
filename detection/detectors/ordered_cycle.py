"""Detector `ordered_cycle`: money that travels through other people's accounts in time
order and comes back to the account it left, within days.

Triggered by a transfer X -> Y, it walks back from X through the transfers each
account received before it paid the next hop (each hop after the previous one, at
most `max_hold_days` later, passing on a share of the previous hop within
[kept_min, kept_max]) until it reaches Y: the loop Y -> ... -> X -> Y. The walk is
bounded in depth, in branching per account, in total steps and in time, so its cost
per transfer stays small. Loops out of time order (B paid C before A paid B) are not
loops of money and are never followed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._flow_shapes import (
    TRANSACTIONS,
    Owners,
    days,
    entities,
    received_before,
    window_ms,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


class OrderedCycleParams(Params):
    # Two parties sending money back and forth is a loan and its repayment, and three
    # friends paying each other in turn is an everyday triangle; a loop through four
    # or more accounts in time order is not.
    min_accounts: int = Field(default=4, ge=3)
    # Longer loops are rarer and costlier to find; the walk is bounded by max_steps.
    max_accounts: int = Field(default=16, ge=3)
    # Each account pays the next hop within days of being paid.
    max_hold_days: float = Field(default=10, gt=0)
    # The whole loop closes within this many days (the history holds 35 days sent).
    max_span_days: float = Field(default=30, gt=0)
    # Share of the previous hop that the next hop carries: each member keeps a margin
    # (the next hop is smaller), and money that shrinks by a third between hops is not
    # the same money. The very same sum handed round (20.00, 20.00, 20.00) is friends
    # settling a shared bill, not a member taking a cut: kept_max is below 1.
    kept_min: float = Field(default=0.7, gt=0, le=1)
    kept_max: float = Field(default=0.999, gt=0, le=2)
    # Distinct customers in the loop (a customer's own accounts count once).
    min_parties: int = Field(default=3, ge=2)
    # Bounds of the search: inbound transfers followed per account (those whose amount
    # is closest to the hop's), and accounts expanded in all.
    max_branch: int = Field(default=4, ge=1)
    max_steps: int = Field(default=200, ge=1)


class OrderedCycle(Detector):
    """A time-ordered loop of transfers that returns (most of) the money to its start."""

    rule: ClassVar[str] = "ordered_cycle"
    kind = "link"
    handles = TRANSACTIONS
    params_model = OrderedCycleParams
    params: OrderedCycleParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if not flows.internal_transfer(txn) or txn.counterparty_account_id is None:
            return []
        loop = self._loop(ctx, txn)
        if loop is None:
            return []
        owners = Owners(ctx)
        accounts = list(dict.fromkeys(t.account_id for t in loop))
        owners.load(accounts)
        if len({owners.of(a) for a in accounts}) < self.params.min_parties:
            return []
        return [self._finding(loop, accounts, owners)]

    def _loop(self, ctx: Context, txn: Txn) -> list[Txn] | None:
        p = self.params
        origin = txn.counterparty_account_id
        hold = window_ms(p.max_hold_days)
        earliest = txn.at - window_ms(p.max_span_days)
        steps = 0

        def walk(trail: list[Txn], seen: set[int]) -> list[Txn] | None:
            nonlocal steps
            steps += 1
            if steps > p.max_steps or len(trail) >= p.max_accounts:
                return None
            hop = trail[0]
            candidates = [
                r
                for r in received_before(ctx, hop.account_id, max(earliest, hop.at - hold), hop)
                if r.amount > 0
                and p.kept_min <= hop.amount / r.amount <= p.kept_max
                and (r.account_id == origin or r.account_id not in seen)
            ]
            # The closest amounts first: the likeliest to be the same money.
            candidates.sort(key=lambda r: (abs(1 - hop.amount / r.amount), -r.at))
            for inbound in candidates[: p.max_branch]:
                if inbound.account_id == origin:
                    if len(trail) + 1 >= p.min_accounts:
                        return [inbound, *trail]
                    continue
                found = walk([inbound, *trail], seen | {inbound.account_id})
                if found is not None:
                    return found
            return None

        assert origin is not None
        return walk([txn], {txn.account_id, origin})

    def _finding(self, loop: Sequence[Txn], accounts: list[int], owners: Owners) -> Finding:
        first, last = loop[0], loop[-1]
        span = last.at - first.at
        roles = [(accounts[0], "origin"), *((a, "member") for a in accounts[1:])]
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The loop's members name it, whichever round of it was seen first.
            anchor=":".join(str(a) for a in sorted(accounts)),
            score=min(0.95, 0.7 + 0.03 * (len(accounts) - 3)),
            entities=entities(roles, owners),
            explanation=(
                f"{first.amount:.2f} {first.currency} left account {first.account_id} and "
                f"{last.amount:.2f} came back to it through {len(accounts) - 1} other "
                f"accounts, each paying the next after being paid, in {days(span)} days: "
                "round-tripping. Review the origin's income and the members."
            ),
            evidence={
                "accounts": accounts,
                "hops": len(loop),
                "amounts": [t.amount for t in loop],
                "currency": first.currency,
                "returned_share": round(last.amount / first.amount, 4),
                "hold_days": [days(b.at - a.at) for a, b in pairwise(loop)],
                "span_days": days(span),
            },
            cypher=views.money_flow(accounts, [t.txn_id for t in loop]),
            txn_ids=[str(t.txn_id) for t in loop],
        )


DETECTOR = OrderedCycle
