"""Detector `fraud_proximity`: customers and accounts next to a confirmed fraud or
chargeback report.

How customers are bound, and households told from rings: `_identifiers`, `_rings`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._identifiers import (
    _accounts_open_at,
    _digest,
    _fraud_reports,
    _member_entities,
    _reported_customers,
    address_of,
    known_at,
    strong_of,
)
from fraudgraph.detection.detectors._rings import expand_component
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import CustomerInfo, Report, Txn


class FraudProximityParams(Params):
    identity_hops: int = Field(
        default=2,
        ge=1,
        le=4,
        description=(
            "Customers this many shared phones/e-mails/national ids away from a confirmed "
            "fraudster are named: a ring's other members (1-2 hops); further out the "
            "links are chance (recycled numbers)."
        ),
    )
    money_days: float = Field(
        default=21,
        gt=0,
        description=(
            "Transfers with a reported account in the weeks before the report: a report "
            "follows a case's last event by hours to days, and a layered or slow case "
            "moves its money over up to three weeks before that."
        ),
    )
    history_days: float = Field(
        default=30,
        gt=0,
        description=(
            "A counterparty that already exchanged money with the reported account in the "
            "month before the case window is an established relation (family, employer, "
            "landlord), not an accomplice."
        ),
    )
    min_amount: float = Field(
        default=100,
        ge=0,
        description="Smaller transfers (a shared bill, a gift) do not make a neighbour.",
    )
    max_payees: int = Field(
        default=5,
        ge=2,
        description=(
            "A counterparty that paid this many accounts in the window is an employer or "
            "a platform paying the reported customer's salary (payroll is an honest "
            "fan-out), not an accomplice."
        ),
    )
    second_hop_links: int = Field(
        default=2,
        ge=0,
        description=(
            "An account that exchanged money, new and by the case's channel, with this "
            "many of the reported account's counterparties in the window is named too: "
            "the other side of a layered case (a stack's or bipartite's other originators, "
            "a scatter's intermediaries' payee). One shared counterparty is a common "
            "friend; 0 turns it off."
        ),
    )
    second_hop_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description=(
            "... when those counterparties are at least this share of the ones it dealt "
            "with that way in the window: an employer paying two of them among its staff "
            "is not part of the case."
        ),
    )
    second_hop_dealings: bool = Field(
        default=True,
        description=(
            "A second hop's other new counterparties by the case's channel in the window "
            "are named too: it dealt mostly with the case (`second_hop_share`), so the "
            "rest of what it did that way is the case's (a bipartite's other payees)."
        ),
    )
    watch_transfers: bool = Field(
        default=False,
        description=(
            "Also alert on a new payer sending to a reported account after the report. "
            "Off: in the simulated bank reported customers keep living (salaries, gifts "
            "from friends) and every such payer is honest; worth turning on where reported "
            "accounts are frozen, so any inbound transfer is news."
        ),
    )
    burst_days: float = Field(
        default=30,
        gt=0,
        description="As for identity_ring: only bonded neighbours count (`Component.core`).",
    )
    max_members: int = Field(default=200, ge=3, description="Bound of the identity search.")
    max_holders: int = Field(
        default=25, ge=2, description="Identifiers held by more customers are ignored."
    )


@dataclass(frozen=True, slots=True)
class MoneyLink:
    account_id: int  # the counterparty's account
    owner: int | None
    reported_account: int  # or, for a second hop, the counterparty it dealt with
    txn: Txn
    second_hop: bool = False


Move = tuple[Txn, int, int]  # (transfer, the account asked about, the account at its other end)


def _moves(ctx: Context, accounts: list[int], since: int, until: int) -> list[Move]:
    """Counted transfers between accounts, either way, of `accounts` in [since, until]."""
    moves: list[Move] = []
    for account, sent in ctx.sent_many(accounts, since, until).items():
        moves += [
            (t, account, t.counterparty_account_id) for t in sent if t.counterparty_account_id
        ]
    for account, received in ctx.received_many(accounts, since, until).items():
        moves += [(t, account, t.account_id) for t in received]
    return [m for m in moves if m[2] and m[0].is_transfer and m[0].counts]


def _new_deals(moves: list[Move], *, channel: str, window: int, min_amount: float) -> list[Move]:
    """The moves by `channel` in the window, of `min_amount` or more, between accounts
    that had not dealt with each other before it; oldest first."""
    old = {(account, other) for txn, account, other in moves if txn.at < window}
    return [
        (txn, account, other)
        for txn, account, other in sorted(moves, key=lambda m: m[0].txn_id)
        if txn.channel == channel
        and txn.at >= window
        and txn.amount >= min_amount
        and (account, other) not in old
    ]


def _named_digest(entities: Sequence[Entity]) -> str:
    named = sorted({f"{e.type}:{e.id}" for e in entities})
    return hashlib.sha256(",".join(named).encode()).hexdigest()[:16]


def case_channel(moves: list[Move]) -> str | None:
    """The channel carrying the most distinct new counterparties: a case moves its money
    one way, while the reported customer's ordinary life uses the others. A tie goes to
    bank transfers (p2p is where friends settle up)."""
    counterparts: dict[str, set[int]] = {}
    for txn, _, other in moves:
        counterparts.setdefault(txn.channel, set()).add(other)
    if not counterparts:
        return None
    return max(sorted(counterparts), key=lambda ch: (len(counterparts[ch]), ch == "transfer"))


class FraudProximity(Detector):
    """Customers and accounts next to a confirmed fraud or chargeback report.

    On the report: the reported customer's identity neighbours (within
    `identity_hops` shared strong identifiers) and the accounts it exchanged money
    with in the `money_days` before the report that were not established relations.
    Later: a customer that arrives holding a reported customer's identifier, and a new
    payer feeding a reported account. A report is judged again when a payment in its
    window arrives after it (`judged_before`). Reports naming only a payment are
    skipped (no history question finds a payment's accounts by id).
    """

    rule: ClassVar[str] = "fraud_proximity"
    kind = "link"
    handles = frozenset({"report", "customer", "transaction"})
    params_model = FraudProximityParams
    params: FraudProximityParams

    def detect(self, event: Event, ctx: Context) -> Iterator[Finding]:
        if event.kind == "report":
            yield from self._on_report(event.report, event.at, ctx)
        elif event.kind == "customer":
            yield from self._on_customer(event.customer, event.at, ctx)
        elif self.params.watch_transfers:
            yield from self._on_transfer(event.txn, ctx)

    def judged_before(self, event: Event, ctx: Context) -> Iterator[Event]:
        """The reports whose window holds this payment: a report judged before its
        case's payments had arrived (their topic ran behind it, a bulk load's tables
        read side by side) names more of the case once they have."""
        if event.kind != "transaction":
            return
        txn = event.txn
        payee = txn.counterparty_account_id
        if not (payee and txn.is_transfer and txn.counts):
            return
        ends = (txn.account_id, payee)
        owners = [owner for account in ends if (owner := ctx.owner(account)) is not None]
        horizon = int(self.params.money_days * DAY_MS)
        for report in ctx.reports_for(owners, ends):
            if report.is_fraud and txn.at <= report.reported_at <= txn.at + horizon:
                yield Event("report", report, report.reported_at, "r", 0, 0)

    # -- a new report: who is next to it ------------------------------------------------
    def _on_report(self, report: Report, at: int, ctx: Context) -> Iterator[Finding]:
        if not report.is_fraud:
            return
        cid = report.customer_id
        if cid is None and report.account_id is not None:
            cid = ctx.owner(report.account_id)
        customer = ctx.customer(cid) if cid is not None else None
        if customer is None:
            return
        near = self._identity_neighbours(ctx, customer, at)
        reported_accounts = (
            [report.account_id]
            if report.account_id is not None
            else _accounts_open_at(ctx, [customer.customer_id], at).get(customer.customer_id, [])
        )
        money = self._money_links(ctx, customer, reported_accounts, at)
        if not near and not money:
            return
        accounts = _accounts_open_at(ctx, near, at)
        entities = [Entity("customer", str(customer.customer_id), "reported")]
        entities += [Entity("account", str(a), "reported") for a in reported_accounts]
        entities += _member_entities(near, accounts, "member_account")
        for link in money:
            role = "second_hop" if link.second_hop else "counterparty"
            entities.append(Entity("account", str(link.account_id), role))
            if link.owner is not None:
                entities.append(Entity("customer", str(link.owner), role))
        direct = [m for m in money if not m.second_hop]
        beyond = [m for m in money if m.second_hop]
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            # What it names is part of the anchor: a report judged again once more of
            # its case had arrived (a late payment, a shared group's second judgement)
            # raises its larger view as an alert of its own; the same view, once.
            anchor=f"report:{report.report_id}:{_named_digest(entities)}",
            score=0.6 + 0.1 * bool(near) + 0.1 * bool(money),
            entities=entities,
            explanation=(
                f"Customer {customer.customer_id} was reported ({report.kind}); "
                f"{len(near)} customer(s) share its identifiers, {len(direct)} account(s) "
                f"exchanged money with it in the {self.params.money_days:g} days before and "
                f"{len(beyond)} more with {self.params.second_hop_links} or more of those: "
                "review them for the same case."
            ),
            evidence={
                "report_id": report.report_id,
                "report_kind": report.kind,
                "identity_neighbours": near,
                "money_counterparties": sorted({m.account_id for m in direct}),
                "second_hop_counterparties": sorted({m.account_id for m in beyond}),
                "case_channel": money[0].txn.channel if money else None,
            },
            # The report, the identity neighbours and the money exchanged with it.
            cypher=views.customers(
                [customer.customer_id, *near], [link.txn.txn_id for link in money]
            ),
            txn_ids=[str(m.txn.txn_id) for m in money],
            event_time_ms=at,
        )

    def _identity_neighbours(self, ctx: Context, customer: CustomerInfo, at: int) -> list[int]:
        component = expand_component(
            ctx,
            customer,
            at,
            max_members=self.params.max_members,
            max_holders=self.params.max_holders,
            max_hops=self.params.identity_hops,
        )
        ring = component.core(customer.customer_id, int(self.params.burst_days * DAY_MS))
        return sorted(set(ring.members) - {customer.customer_id})

    def _money_links(
        self, ctx: Context, customer: CustomerInfo, accounts: list[int], at: int
    ) -> list[MoneyLink]:
        p = self.params
        window = at - int(p.money_days * DAY_MS)
        since = window - int(p.history_days * DAY_MS)
        own = set(ctx.accounts_of(customer.customer_id))
        moves = [m for m in _moves(ctx, accounts, since, at) if m[2] not in own]
        established = {other for t, _, other in moves if t.at < window}
        fresh = [
            m
            for m in moves
            if m[0].at >= window and m[0].amount >= p.min_amount and m[2] not in established
        ]
        channel = case_channel(fresh)
        links: dict[int, MoneyLink] = {}
        for txn, account, other in sorted(fresh, key=lambda m: m[0].txn_id):
            if txn.channel == channel:
                links.setdefault(other, MoneyLink(other, ctx.owner(other), account, txn))
        payers = self._paying_many(ctx, [a for a in links if links[a].txn.account_id == a], at)
        first = self._not_household(
            ctx, customer, [m for m in links.values() if m.account_id not in payers]
        )
        if channel is None:
            return first
        known = own | set(accounts) | set(links)
        return first + self._second_hop(ctx, customer, first, channel=channel, known=known, at=at)

    def _second_hop(
        self,
        ctx: Context,
        customer: CustomerInfo,
        first: list[MoneyLink],
        *,
        channel: str,
        known: set[int],
        at: int,
    ) -> list[MoneyLink]:
        """Accounts dealing, new and by `channel`, with `second_hop_links` of `first`
        in the window, and mostly with them (`second_hop_share`)."""
        p = self.params
        if not p.second_hop_links or len(first) < p.second_hop_links:
            return []
        window = at - int(p.money_days * DAY_MS)
        since = window - int(p.history_days * DAY_MS)
        deals = partial(_new_deals, channel=channel, window=window, min_amount=p.min_amount)
        reached: dict[int, dict[int, Txn]] = {}
        for txn, ring, other in deals(_moves(ctx, [m.account_id for m in first], since, at)):
            if other not in known:
                reached.setdefault(other, {}).setdefault(ring, txn)
        linked = {o: rings for o, rings in reached.items() if len(rings) >= p.second_hop_links}
        if not linked:
            return []
        theirs = _moves(ctx, sorted(linked), since, at)
        dealt: dict[int, set[int]] = {}
        for txn, account, other in theirs:
            if txn.channel == channel and txn.at >= window:
                dealt.setdefault(account, set()).add(other)
        found = [
            MoneyLink(other, ctx.owner(other), min(rings), rings[min(rings)], second_hop=True)
            for other, rings in sorted(linked.items())
            if len(rings) >= p.second_hop_share * len(dealt.get(other, rings.keys()))
        ]
        if p.second_hop_dealings:
            # A second hop dealt mostly with the case: the rest of its new dealings by
            # the case's channel are the case's too (a bipartite's other payees).
            hops, named = {m.account_id for m in found}, known | set(linked)
            for txn, hop, other in deals(theirs):
                if hop in hops and other not in named:
                    named.add(other)
                    found.append(MoneyLink(other, ctx.owner(other), hop, txn, second_hop=True))
        return self._not_household(ctx, customer, found)

    def _paying_many(self, ctx: Context, accounts: list[int], at: int) -> set[int]:
        """The accounts that paid `max_payees` or more accounts in the window (payroll)."""
        since = at - int((self.params.money_days + self.params.history_days) * DAY_MS)
        return {
            account
            for account, sent in ctx.sent_many(accounts, since, at).items()
            if len({t.counterparty_account_id for t in sent if t.counterparty_account_id})
            >= self.params.max_payees
        }

    def _not_household(
        self, ctx: Context, customer: CustomerInfo, links: list[MoneyLink]
    ) -> list[MoneyLink]:
        """Money to someone at the same address is family life, not a case."""
        home = address_of(customer)
        owners = ctx.customers(sorted({m.owner for m in links if m.owner is not None}))
        return [
            m
            for m in links
            if home is None or m.owner not in owners or address_of(owners[m.owner]) != home
        ]

    # -- later events touching a reported neighbourhood ---------------------------------
    def _on_customer(self, customer: CustomerInfo, at: int, ctx: Context) -> Iterator[Finding]:
        if not strong_of(customer) or not known_at(customer, at):
            return
        near = self._identity_neighbours(ctx, customer, at)
        if not near:
            return
        reported = _reported_customers(ctx, _fraud_reports(ctx, near, [], at))
        if not reported:
            return
        cid = customer.customer_id
        accounts = _accounts_open_at(ctx, [cid], at)
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"customer:{cid}:{_digest(strong_of(customer))}",
            score=0.8,
            entities=[
                *_member_entities([cid], accounts, "member_account"),
                *(Entity("customer", str(r), "reported") for r in sorted(reported)),
            ],
            explanation=(
                f"Customer {cid} holds identifiers within {self.params.identity_hops} hop(s) of "
                f"{len(reported)} customer(s) confirmed fraudulent: a known fraudster may be "
                "applying again."
            ),
            evidence={"reported_customers": sorted(reported), "identity_neighbours": near},
            # Every neighbour: the customers between this one and the reported ones.
            cypher=views.customers([cid, *near]),
            event_time_ms=at,
        )

    def _on_transfer(self, txn: Txn, ctx: Context) -> Iterator[Finding]:
        payee = txn.counterparty_account_id
        if not (txn.is_transfer and txn.counts and payee) or txn.amount < self.params.min_amount:
            return
        payee_owner, payer_owner = ctx.owner(payee), ctx.owner(txn.account_id)
        if payee_owner is None or payee_owner == payer_owner:
            return
        reports = _fraud_reports(ctx, [payee_owner], [payee], txn.at)
        if not reports:
            return
        since = txn.at - int(self.params.history_days * DAY_MS)
        before = [
            t
            for t in ctx.sent(txn.account_id, since, txn.at)
            if t.counterparty_account_id == payee and t.txn_id != txn.txn_id and t.at <= txn.at
        ]
        if before:
            return  # an established payer (family, rent) keeps paying: not news
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"feeder:{txn.account_id}:{payee}",
            score=0.7,
            entities=[
                Entity("account", str(txn.account_id), "feeder"),
                *([Entity("customer", str(payer_owner), "feeder")] if payer_owner else []),
                Entity("account", str(payee), "reported"),
                Entity("customer", str(payee_owner), "reported"),
            ],
            explanation=(
                f"Account {txn.account_id} sent {txn.amount:.2f} {txn.currency} to account "
                f"{payee}, whose owner was reported ({reports[-1].kind}), for the first time: "
                "a new victim or accomplice feeding a known fraud account."
            ),
            evidence={"reported": [r.report_id for r in reports], "amount": txn.amount},
            cypher=views.money_flow([txn.account_id, payee], [txn.txn_id]),
            txn_ids=[str(txn.txn_id)],
            event_time_ms=txn.at,
        )


DETECTOR = FraudProximity
