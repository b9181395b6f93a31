"""Detector `bipartite_flow`: several customers each pay the same few other customers
within weeks — a block of originators all feeding one block of beneficiaries.

Triggered by a transfer X -> B: the other accounts that paid B in the window are
candidate originators; each that also paid at least `min_beneficiaries` of the
accounts X paid is one. Friends settling up pay each other both ways: a pair that
paid each other either way is left out. A tenant pays one landlord and a member one
treasurer: many payers sharing a single payee is a fan-in, not this shape.
Names the originators and every beneficiary that two or more of them paid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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
    key,
    window_ms,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


class BipartiteFlowParams(Params):
    # The block: at least this many paying customers, each paying at least this many
    # of the same beneficiaries (other customers), inside the window.
    min_originators: int = Field(default=3, ge=2)
    min_beneficiaries: int = Field(default=2, ge=2)
    window_days: float = Field(default=21, gt=0)
    # Share of all an originator paid out in the window (cards, bills, transfers)
    # that went to the block's beneficiaries: friends passing small sums between them
    # spend far more on living (0: off).
    min_turnover_share: float = Field(default=0.5, ge=0, le=1)
    # Bounds of the search: payers of the payee looked at.
    max_candidates: int = Field(default=30, ge=1)


class BipartiteFlow(Detector):
    """Originators x beneficiaries, densely connected within weeks."""

    rule: ClassVar[str] = "bipartite_flow"
    kind = "link"
    handles = TRANSACTIONS
    params_model = BipartiteFlowParams
    params: BipartiteFlowParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if not flows.internal_transfer(txn) or txn.counterparty_account_id is None:
            return []
        p = self.params
        since = txn.at - window_ms(p.window_days)
        owners = Owners(ctx)
        origin, payee = txn.account_id, txn.counterparty_account_id
        paid = _paid(ctx, origin, since, txn)
        owners.load([origin, *paid])
        mine = {b for b in paid if not owners.same(b, origin)}
        if len(mine) < p.min_beneficiaries or payee not in mine:
            return []
        # The trigger's place in time, computed once: the loops below compare every
        # transfer of a block's windows with it.
        now = key(txn)
        payers = {
            r.account_id
            for r in ctx.received_many([payee], since, txn.at)[payee]
            if flows.internal_transfer(r) and key(r) < now
        } - {origin}
        candidates = sorted(payers)[: p.max_candidates]
        sent = ctx.sent_many(candidates, since, txn.at)
        block: dict[int, set[int]] = {origin: mine}
        for other in candidates:
            theirs = {
                s.counterparty_account_id
                for s in sent.get(other, [])
                if flows.internal_transfer(s)
                and key(s) < now
                and s.counterparty_account_id is not None
            }
            shared = theirs & mine
            if len(shared) >= p.min_beneficiaries:
                block[other] = shared
        if p.min_turnover_share > 0:
            sent[origin] = _sent(ctx, origin, since, txn)
            block = {
                o: shared
                for o, shared in block.items()
                if _share(sent.get(o, []), shared, txn) >= p.min_turnover_share
            }
        if origin not in block or len(block) < p.min_originators:
            return []
        counts = Counter(b for shared in block.values() for b in shared)
        beneficiaries = sorted(b for b, n in counts.items() if n >= 2)
        originators = sorted(block)
        owners.load([*originators, *beneficiaries])
        # Both sides other customers, and no pair that paid each other the other way.
        side_a = {owners.of(a) for a in originators}
        side_b = {owners.of(b) for b in beneficiaries}
        if (
            set(originators) & set(beneficiaries)
            or side_a & side_b
            or len(side_a) < p.min_originators
            or len(side_b) < p.min_beneficiaries
        ):
            return []
        back = ctx.sent_many(beneficiaries, since, txn.at)
        if any(
            s.counterparty_account_id in block and key(s) < now
            for sends in back.values()
            for s in sends
        ):
            return []
        txns = sorted(
            {
                t.txn_id: t
                for o in originators
                for t in (sent.get(o, []) if o != origin else _sent(ctx, origin, since, txn))
                if flows.internal_transfer(t)
                and t.counterparty_account_id in beneficiaries
                and key(t) <= now
            }.values(),
            key=key,
        )
        return [self._finding(originators, beneficiaries, txns, owners, txn)]

    def _finding(
        self,
        originators: list[int],
        beneficiaries: list[int],
        txns: list[Txn],
        owners: Owners,
        txn: Txn,
    ) -> Finding:
        roles = [
            *((a, "originator") for a in originators),
            *((b, "beneficiary") for b in beneficiaries),
        ]
        span = txns[-1].at - txns[0].at if txns else 0
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=":".join(str(a) for a in sorted([*originators, *beneficiaries])),
            score=min(0.95, 0.6 + 0.03 * (len(originators) + len(beneficiaries))),
            entities=entities(roles, owners),
            explanation=(
                f"{len(originators)} accounts each paid several of the same "
                f"{len(beneficiaries)} accounts ({len(txns)} transfers, "
                f"{sum(t.amount for t in txns):.2f} {txn.currency}) within {days(span)} "
                "days, none of them paid back: a block of payers feeding a block of "
                "payees. Review the accounts and where the money went next."
            ),
            evidence={
                "originators": originators,
                "beneficiaries": beneficiaries,
                "transfers": len(txns),
                "currency": txn.currency,
                "span_days": days(span),
                "trigger_txn": txn.txn_id,
            },
            cypher=views.money_flow([*originators, *beneficiaries], [t.txn_id for t in txns]),
            txn_ids=[str(t.txn_id) for t in txns],
        )


def _sent(ctx: Context, account: int, since: int, until: Txn) -> list[Txn]:
    last = key(until)
    return [s for s in ctx.sent(account, since, until.at) if key(s) <= last]


def _share(sent: list[Txn], payees: set[int], until: Txn) -> float:
    """What went to `payees` as a share of everything paid out, from the first of it."""
    last = key(until)
    moved = sorted(
        (s for s in sent if flows.moved(s) and key(s) <= last and s.currency == until.currency),
        key=key,
    )
    to_block = [s for s in moved if s.counterparty_account_id in payees]
    if not to_block:
        return 0.0
    since = key(to_block[0])
    total = sum(s.amount for s in moved if key(s) >= since)
    return sum(s.amount for s in to_block) / total if total > 0 else 0.0


def _paid(ctx: Context, account: int, since: int, until: Txn) -> set[int]:
    return {
        s.counterparty_account_id
        for s in _sent(ctx, account, since, until)
        if flows.internal_transfer(s) and s.counterparty_account_id is not None
    }


DETECTOR = BipartiteFlow
