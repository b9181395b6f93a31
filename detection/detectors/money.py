"""Detectors: money flows — mule chains, fan-in/fan-out, round-tripping, structuring.

Each rule looks at transfers only (card payments move money to merchants, not
between people) and only at money that moved (declined or reversed transfers did
not). Amounts are compared in the account's currency, and amount thresholds are in
that currency too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.flows import PassOn
from fraudgraph.detection.history import Txn

TRANSACTIONS: frozenset[EventKind] = frozenset({"transaction"})


def _key(txn: Txn) -> tuple[int, int]:
    """Event-time order, ties broken by id: what happened before what."""
    return (txn.at, txn.txn_id)


def _hours(ms: int) -> float:
    return round(ms / HOUR_MS, 2)


# -- mule chain ----------------------------------------------------------------------


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


# -- fan-in ----------------------------------------------------------------------------


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


# -- fan-out ---------------------------------------------------------------------------


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


# -- cycle -----------------------------------------------------------------------------


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


# -- structuring -----------------------------------------------------------------------


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


DETECTORS: list[type[Detector]] = [MuleChain, FanIn, FanOut, Cycle, Structuring]
