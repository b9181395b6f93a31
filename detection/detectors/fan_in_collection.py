"""Detector `fan_in_collection`: more different people pay one account, by one channel
and in amounts that differ, than any honest account is paid by in days.

Unlike `fan_in` and `fan_in_burst` it does not wait for the pool to leave: half of
laundering collections keep the money for a while, or move it where this bank cannot
see. What tells a collection from honest life is the count and the amounts:

* On the tuning seeds (classic 1-5, amlsim 201-205: 2,000 customers x 30 days each,
  about 37,000 accounts) no honest account was paid by more than 4 different customers
  in one day, 5 in three days or 6 in a week by one channel, while a third of the
  fan-in collectors passed those counts.
* Landlords and clubs are paid by as many, but at one set price (rent, dues): a
  collection in which most payers paid the same amount is left alone (`set_price`).

The alert names the collector and every sender of the window: the senders' own
transfers look ordinary, so no rule would name them one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._counterparts import set_price
from fraudgraph.detection.detectors._transfers import TRANSACTIONS, _hours, _key
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


class FanInCollectionParams(Params):
    # Distinct paying customers by one channel, one above the most any honest account
    # of the tuning seeds reached (see the module note).
    min_senders_3d: int = Field(default=6, ge=3)
    min_senders_7d: int = Field(default=7, ge=3)


class FanInCollection(Detector):
    """Many different people pay one account, by one channel, in differing amounts."""

    rule: ClassVar[str] = "fan_in_collection"
    kind = "link"
    handles = TRANSACTIONS
    params_model = FanInCollectionParams
    params: FanInCollectionParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        collector = txn.counterparty_account_id
        if collector is None or not flows.internal_transfer(txn):
            return []
        week = [
            r
            for r in ctx.received(collector, txn.at - 7 * DAY_MS, txn.at)
            if r.channel == txn.channel and flows.moved(r) and _key(r) <= _key(txn)
        ]
        # Fewer paying accounts than either count needs: no owner to look up (each
        # lookup the worker's cache misses is a round trip to Neo4j).
        if len({r.account_id for r in week}) < min(p.min_senders_3d, p.min_senders_7d):
            return []
        owner_of = flows.owners(ctx, [collector, *(r.account_id for r in week)])
        own = owner_of.get(collector)
        week = [r for r in week if r.account_id != collector and owner_of.get(r.account_id) != own]
        three_days = [r for r in week if r.at >= txn.at - 3 * DAY_MS]
        window = next(
            (
                paid
                for paid, minimum in (
                    (three_days, p.min_senders_3d),
                    (week, p.min_senders_7d),
                )
                if _senders(paid, owner_of) >= minimum
            ),
            None,
        )
        if window is None or set_price(window):
            return []
        return [self._finding(txn, collector, window, owner_of)]

    def _finding(
        self, txn: Txn, collector: int, paid: Sequence[Txn], owner_of: dict[int, int]
    ) -> Finding:
        ordered = sorted(paid, key=_key)
        first = ordered[0]
        senders = _senders(ordered, owner_of)
        accounts = list(dict.fromkeys(r.account_id for r in ordered))
        roles = [(collector, "collector"), *((a, "sender") for a in accounts)]
        inflow = sum(r.amount for r in ordered)
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The collection's first payment names it; more senders, a new alert.
            anchor=f"{collector}:{first.txn_id}:{senders}",
            score=min(0.95, 0.6 + 0.03 * senders),
            entities=flows.party_entities(roles, owner_of),
            explanation=(
                f"Account {collector} was paid {inflow:.2f} {txn.currency} by {senders} "
                f"different customers by {txn.channel} in {_hours(txn.at - first.at)} h, in "
                "amounts that differ: more payers than any honest account has in days, "
                "and not rent or dues. Review the collector and its senders."
            ),
            evidence={
                "senders": senders,
                "payments": len(ordered),
                "inflow": round(inflow, 2),
                "currency": txn.currency,
                "channel": txn.channel,
                "window_hours": _hours(txn.at - first.at),
            },
            cypher=views.money_flow([collector, *accounts], [r.txn_id for r in ordered]),
            txn_ids=[str(r.txn_id) for r in ordered],
            event_time_ms=txn.at,
        )


def _senders(paid: Sequence[Txn], owner_of: dict[int, int]) -> int:
    return len({owner_of.get(r.account_id, -r.account_id) for r in paid})


DETECTOR = FanInCollection
