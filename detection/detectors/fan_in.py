"""Detector `fan_in`: many people paying one account, which moves the pooled money on.

A money-flow rule: transfers that moved money only (see `_transfers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._transfers import TRANSACTIONS, _hours, _key
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


class FanInParams(Params):
    # Collection runs over a day or two, then the pooled money leaves.
    window_hours: float = Field(default=48, gt=0)
    # Distinct paying customers: a friend circle or a household pays someone a few
    # times a month; five different people inside two days who all fund a payment out
    # is a collection account.
    min_senders: int = Field(default=5, ge=2)
    # Share of the collected money that has gone out again, counting this payment: a
    # collector cashes out (most of) the pool; a popular honest payee keeps it.
    min_passed_share: float = Field(default=0.5, gt=0, le=1)
    min_cash_out: float = Field(default=500, ge=0)


class FanIn(Detector):
    """Many people paying one account, which then moves the pooled money on."""

    rule: ClassVar[str] = "fan_in"
    kind = "link"
    handles = TRANSACTIONS
    params_model = FanInParams
    params: FanInParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        if not (txn.is_transfer and flows.moved(txn) and txn.amount >= p.min_cash_out):
            return []
        since = txn.at - int(p.window_hours * HOUR_MS)
        inbound = [
            r
            for r in ctx.received(txn.account_id, since, txn.at)
            if flows.internal_transfer(r)
            and _key(r) < _key(txn)
            and r.currency == txn.currency
            and r.account_id != txn.account_id
        ]
        if len({r.account_id for r in inbound}) < p.min_senders:
            return []
        owner_of = flows.owners(ctx, [txn.account_id, *(r.account_id for r in inbound)])
        collector_owner = owner_of.get(txn.account_id)
        # The collector's own other accounts (savings) are not senders.
        inbound = [r for r in inbound if owner_of.get(r.account_id) != collector_owner]
        senders = {owner_of.get(r.account_id, -r.account_id) for r in inbound}
        if len(senders) < p.min_senders:
            return []
        inflow = sum(r.amount for r in inbound)
        first = min(inbound, key=_key)
        outbound = [
            s
            for s in ctx.sent(txn.account_id, first.at, txn.at)
            if flows.moved(s) and s.currency == txn.currency and _key(s) <= _key(txn)
        ]
        outflow = sum(s.amount for s in outbound)
        if outflow < p.min_passed_share * inflow:
            return []
        return [
            self._finding(
                txn=txn,
                inbound=inbound,
                outbound=outbound,
                inflow=inflow,
                outflow=outflow,
                senders=len(senders),
                owner_of=owner_of,
            )
        ]

    def _finding(
        self,
        *,
        txn: Txn,
        inbound: Sequence[Txn],
        outbound: Sequence[Txn],
        inflow: float,
        outflow: float,
        senders: int,
        owner_of: dict[int, int],
    ) -> Finding:
        first = min(inbound, key=_key)
        sender_accounts = list(dict.fromkeys(r.account_id for r in sorted(inbound, key=_key)))
        roles = [(txn.account_id, "collector"), *((a, "sender") for a in sender_accounts)]
        txns = [*sorted(inbound, key=_key), txn]
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The collection's first deposit names it; more senders, a new alert.
            anchor=f"{txn.account_id}:{first.txn_id}:{senders}",
            score=min(0.95, 0.6 + 0.03 * (senders - 5) + 0.1 * min(1.0, outflow / inflow)),
            entities=flows.party_entities(roles, owner_of),
            explanation=(
                f"Account {txn.account_id} received {inflow:.2f} {txn.currency} from "
                f"{senders} different customers in {_hours(txn.at - first.at)} h and has "
                f"sent {outflow:.2f} on ({100 * outflow / inflow:.0f} %): a collection "
                "account. Hold it and review the senders."
            ),
            evidence={
                "senders": senders,
                "deposits": len(inbound),
                "inflow": round(inflow, 2),
                "outflow": round(outflow, 2),
                "currency": txn.currency,
                "window_hours": _hours(txn.at - first.at),
                "cash_out_txn": txn.txn_id,
            },
            # The deposits and what left again: "has sent ... on" is part of the case.
            cypher=views.money_flow(
                [txn.account_id, *sender_accounts], [t.txn_id for t in (*inbound, *outbound)]
            ),
            txn_ids=[str(t.txn_id) for t in txns],
        )


DETECTOR = FanIn
