"""Detector `fan_out`: one account paying many, who withdraw or forward it at once.

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


class FanOutParams(Params):
    # Payouts of one distribution follow each other within hours; a longer pause
    # starts a new burst.
    burst_gap_hours: float = Field(default=6, gt=0)
    # How long after being paid a receiver's cash withdrawal or forward counts as
    # moving that money on.
    onward_hours: float = Field(default=24, gt=0)
    min_receivers: int = Field(default=5, ge=2)
    # Payroll also pays many people at once; what separates a distribution is that
    # the receivers move the money on at once. Employees withdraw cash or send most
    # of their salary on within a day rarely (well under 1 in 10); paid mules almost
    # all do. Both a count and a share are required so a large payroll's few
    # day-one withdrawals never add up to an alert.
    min_moved_on: int = Field(default=3, ge=1)
    min_moved_on_share: float = Field(default=0.5, gt=0, le=1)
    # A forward counts when it sends on at least this share of the payout.
    forward_share: float = Field(default=0.5, gt=0, le=1)
    min_payout: float = Field(default=100, ge=0)
    # Receivers (in payout order) on which the moved-on share is judged.
    share_sample: int = Field(default=50, ge=5)


class FanOut(Detector):
    """One account paying many, who then withdraw or forward the money at once."""

    rule: ClassVar[str] = "fan_out"
    kind = "link"
    handles = TRANSACTIONS
    params_model = FanOutParams
    params: FanOutParams

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """Triggered by a receiver moving money on: cash or a transfer out."""
        p = self.params
        txn = event.txn
        if not (flows.moved(txn) and (txn.is_transfer or txn.channel == "atm")):
            return []
        onward = int(p.onward_hours * HOUR_MS)
        # Whoever paid this customer lately, if this payment moves that money on.
        received = ctx.received_many(self._paid_into(txn, ctx), txn.at - onward, txn.at)
        distributors = {
            r.account_id
            for payments in received.values()
            for r in payments
            if flows.internal_transfer(r)
            and r.amount >= p.min_payout
            and r.account_id != txn.account_id
            and self._onward(r, [txn], txn, p)
        }
        findings = []
        for distributor in sorted(distributors):
            finding = self._distribution(distributor, txn, ctx, p)
            if finding is not None:
                findings.append(finding)
        return findings

    def _paid_into(self, txn: Txn, ctx: Context) -> list[int]:
        """Accounts whose receipts `txn` may move on: its own; for cash taken on a credit
        card (rare, costly for honest people), also the holder's other accounts."""
        accounts = [txn.account_id]
        info = ctx.account(txn.account_id) if txn.channel == "atm" else None
        if info is not None and info.kind == "credit" and info.customer_id is not None:
            accounts += [a for a in ctx.accounts_of(info.customer_id) if a != txn.account_id]
        return accounts

    def _burst(self, distributor: int, txn: Txn, ctx: Context, p: FanOutParams) -> list[Txn]:
        """The distributor's latest burst of payouts before `txn` (gaps < burst_gap)."""
        gap = int(p.burst_gap_hours * HOUR_MS)
        # Far enough back for the first payout of a burst whose money is still moving.
        since = txn.at - int(p.onward_hours * HOUR_MS) - 4 * gap
        payouts = sorted(
            (
                s
                for s in ctx.sent(distributor, since, txn.at)
                if flows.internal_transfer(s) and s.amount >= p.min_payout and _key(s) < _key(txn)
            ),
            key=_key,
        )
        burst: list[Txn] = []
        for payout in payouts:
            if burst and payout.at - burst[-1].at > gap:
                burst = []
            burst.append(payout)
        return burst

    def _distribution(
        self, distributor: int, txn: Txn, ctx: Context, p: FanOutParams
    ) -> Finding | None:
        burst = self._burst(distributor, txn, ctx, p)
        first_paid: dict[int, Txn] = {}
        for payout in burst:
            assert payout.counterparty_account_id is not None
            first_paid.setdefault(payout.counterparty_account_id, payout)
        if len(first_paid) < p.min_receivers:
            return None
        owner_of = flows.owners(ctx, [distributor, *first_paid])
        own = owner_of.get(distributor)
        receivers = {a: t for a, t in first_paid.items() if owner_of.get(a) != own}
        if len({owner_of.get(a, -a) for a in receivers}) < p.min_receivers:
            return None
        # The share is judged on the first receivers paid: enough to tell a payroll
        # from a distribution, and a large payroll costs a bounded look-up.
        sample = dict(list(receivers.items())[: p.share_sample])
        moved_on = self._moved_on(sample, txn, ctx, p)
        if len(moved_on) < max(p.min_moved_on, p.min_moved_on_share * len(sample)):
            return None
        cash = self._cash_elsewhere(
            {a: t for a, t in sample.items() if a not in moved_on}, owner_of, txn, ctx, p
        )
        cash_accounts = {account: owner for account, (owner, _) in cash.items()}
        by_cash = {a for a in sample if owner_of.get(a) in set(cash_accounts.values())}
        owner_of.update(cash_accounts)
        return self._finding(
            distributor=distributor,
            burst=burst,
            receivers=receivers,
            moved_on=[*moved_on, *sorted(by_cash)],
            onward=[
                *(t for moves in moved_on.values() for t in moves),
                *(t for _, moves in cash.values() for t in moves),
            ],
            cash_accounts=sorted(cash_accounts),
            judged_on=len(sample),
            owner_of=owner_of,
            txn=txn,
        )

    def _onward(self, payout: Txn, sent: Iterable[Txn], txn: Txn, p: FanOutParams) -> bool:
        """Whether one of `sent` withdrew or forwarded `payout` within hours, by `txn`."""
        return bool(self._onward_moves(payout, sent, txn, p))

    def _onward_moves(
        self, payout: Txn, sent: Iterable[Txn], txn: Txn, p: FanOutParams
    ) -> list[Txn]:
        """The payments of `sent` that withdrew or forwarded `payout` within hours, by `txn`."""
        onward = int(p.onward_hours * HOUR_MS)
        return [
            s
            for s in sent
            if _key(payout) < _key(s) <= _key(txn)
            and s.at - payout.at <= onward
            and flows.moved(s)
            and (
                s.channel == "atm"
                or (s.is_transfer and s.amount >= p.forward_share * payout.amount)
            )
        ]

    def _moved_on(
        self, receivers: dict[int, Txn], txn: Txn, ctx: Context, p: FanOutParams
    ) -> dict[int, list[Txn]]:
        """Receivers that withdrew cash or forwarded most of their payout within hours,
        with the payments that did."""
        since = min(t.at for t in receivers.values())
        sent = ctx.sent_many(receivers, since, txn.at)
        return {
            a: moves
            for a, payout in receivers.items()
            if (moves := self._onward_moves(payout, sent.get(a, []), txn, p))
        }

    def _cash_elsewhere(
        self,
        receivers: dict[int, Txn],
        owner_of: dict[int, int],
        txn: Txn,
        ctx: Context,
        p: FanOutParams,
    ) -> dict[int, tuple[int, list[Txn]]]:
        """Other accounts of the receivers that moved the payout on (cash taken with a
        credit card, say): account -> (owner, the payments that did). Asked only once a
        distribution is found."""
        holders = {owner_of[a]: payout for a, payout in receivers.items() if a in owner_of}
        if not holders:
            return {}
        others = {
            account: customer
            for customer, accounts in ctx.accounts_of_many(holders).items()
            for account in accounts
            if account not in receivers
        }
        if not others:
            return {}
        since = min(t.at for t in receivers.values())
        sent = ctx.sent_many(others, since, txn.at)
        return {
            account: (customer, moves)
            for account, customer in others.items()
            if (moves := self._onward_moves(holders[customer], sent.get(account, []), txn, p))
        }

    def _finding(
        self,
        *,
        distributor: int,
        burst: Sequence[Txn],
        receivers: dict[int, Txn],
        moved_on: Sequence[int],
        onward: Sequence[Txn],
        cash_accounts: Sequence[int],
        judged_on: int,
        owner_of: dict[int, int],
        txn: Txn,
    ) -> Finding:
        payouts = [t for t in burst if t.counterparty_account_id in receivers]
        total = sum(t.amount for t in payouts)
        roles = [
            (distributor, "distributor"),
            *((a, "receiver") for a in receivers),
            *((a, "receiver_cash_out") for a in cash_accounts),
        ]
        first = burst[0]
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The burst's first payout names the distribution; more receivers (or more
            # of their accounts) reached, a new alert naming them too.
            anchor=f"{distributor}:{first.txn_id}:{len(receivers)}:{len(cash_accounts)}",
            score=min(0.95, 0.5 + 0.4 * len(moved_on) / judged_on),
            entities=flows.party_entities(roles, owner_of),
            explanation=(
                f"Account {distributor} paid {total:.2f} {first.currency} to {len(receivers)} "
                f"accounts within {_hours(burst[-1].at - first.at)} h and {len(moved_on)} of "
                "them withdrew cash or sent it on within a day: a distribution through "
                "mules. Hold the distributor and review the receivers."
            ),
            evidence={
                "receivers": len(receivers),
                "moved_on": len(moved_on),
                "judged_on_first": judged_on,
                "paid_out": round(total, 2),
                "currency": first.currency,
                "burst_hours": _hours(burst[-1].at - first.at),
                "trigger_txn": txn.txn_id,
            },
            # The payouts and the withdrawals and forwards that moved them on.
            cypher=views.money_flow(
                [distributor, *receivers, *cash_accounts],
                [t.txn_id for t in (*payouts, *onward)],
            ),
            txn_ids=[str(t.txn_id) for t in payouts],
        )


DETECTOR = FanOut
