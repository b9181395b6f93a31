"""Detector `shared_identifiers`: a customer holding a phone, e-mail or national id that
other customers hold, when those customers look like a ring or a fresh pair.

How customers are bound, and households told from rings: `_identifiers`, `_rings`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors._identifiers import (
    NATIONAL_ID,
    _accounts_open_at,
    _by_label,
    _digest,
    _member_entities,
    address_of,
    known_at,
    strong_of,
)
from fraudgraph.detection.detectors._rings import (
    Component,
    IdentityParams,
    expand_component,
    ring_signals,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import AccountInfo, CustomerInfo, IdentityKey

LATEST = 2**62  # "as of now": every customer in the graph is known


def _since(customer: CustomerInfo) -> int:
    """When the customer's current identifiers were first held (0: unknown)."""
    return customer.updated_at or customer.created_at or 0


def _apart(one: CustomerInfo, other: CustomerInfo) -> bool:
    """Both have an address and they differ (unknown addresses prove nothing)."""
    a, b = address_of(one), address_of(other)
    return a is not None and b is not None and a != b


class SharedIdentifierParams(IdentityParams):
    pass


@dataclass(frozen=True, slots=True)
class Judgement:
    """Why a customer's shared identifiers look like a ring rather than a household."""

    reasons: list[str]
    neighbours: list[int]  # customers holding one of its strong identifiers
    identities: list[IdentityKey]  # its identifiers that others hold
    score: float


class SharedIdentifiers(Detector):
    """A customer holds a phone, e-mail or national id other customers hold, and the
    customers bound that way are a ring (see `ring_signals`) or a fresh pair (a shared
    national id, or a phone/e-mail across addresses, onboarded within days).

    Raised for the customer when it arrives or changes, naming it, the customers it
    shares identifiers with and their accounts; and for each account a flagged customer
    opens later, so every account of a ring is named as it appears.
    """

    rule: ClassVar[str] = "shared_identifiers"
    kind = "link"
    handles = frozenset({"customer", "account"})
    params_model = SharedIdentifierParams
    params: SharedIdentifierParams

    def detect(self, event: Event, ctx: Context) -> Iterator[Finding]:
        account: AccountInfo | None = None
        if event.kind == "customer":
            customer: CustomerInfo | None = event.customer
        else:
            assert isinstance(event.record, AccountInfo)
            account = event.record
            owner = account.customer_id
            customer = ctx.customer(owner) if owner is not None else None
        if customer is None or not strong_of(customer) or not known_at(customer, event.at):
            return
        judgement = judge_sharing(ctx, customer, event.at, self.params)
        if judgement is not None:
            if account is None:
                yield self._customer_finding(ctx, customer, judgement, event.at)
            else:
                yield self._account_finding(customer, account, judgement, event.at)

    def judged_before(self, event: Event, ctx: Context) -> Iterator[Event]:
        """The customers bound to an arriving customer who joined after it, and the
        accounts they (and it) opened after it: judged in order, each would have seen it.

        Customers and accounts are separate topics, and partitions of one topic are
        read at different paces: a customer can reach the graph after customers who
        joined later and share its identifiers, or after its own accounts.
        """
        if event.kind != "customer":
            return
        customer, at = event.customer, event.at
        if not strong_of(customer):
            return
        everyone = expand_component(
            ctx,
            customer,
            LATEST,
            max_members=self.params.max_members,
            max_holders=self.params.max_holders,
            max_hops=self.params.max_hops,
        )
        if len(everyone.members) < 2:
            return  # shares nothing with anyone: nothing was judged without it
        later = [
            member
            for member in everyone.members.values()
            if member.customer_id == customer.customer_id or _since(member) > at
        ]
        owned = ctx.accounts_of_many(sorted(m.customer_id for m in later))
        infos = ctx.accounts(sorted({a for ids in owned.values() for a in ids}))
        for member in sorted(later, key=lambda m: (_since(m), m.customer_id)):
            since = _since(member)
            if member.customer_id != customer.customer_id:
                yield Event("customer", member, since, "r", 0, 0)
            for account_id in owned.get(member.customer_id, []):
                account = infos.get(account_id)
                opened = account.opened_at if account is not None else None
                if account is None or opened is None or opened < at or opened < since:
                    continue
                yield Event("account", account, opened, "r", 0, 0)

    def _customer_finding(
        self, ctx: Context, customer: CustomerInfo, judgement: Judgement, at: int
    ) -> Finding:
        cid = customer.customer_id
        named = [cid, *judgement.neighbours]
        accounts = _accounts_open_at(ctx, named, at)
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The customer and the identifiers that bind it: the same customer seen again
            # (replay, an unrelated update) is the same alert; a new shared phone is new.
            anchor=f"customer:{cid}:{_digest(judgement.identities)}",
            score=judgement.score,
            entities=_member_entities(named, accounts, "member_account"),
            explanation=(
                f"Customer {cid} shares {len(judgement.identities)} phone/e-mail/national "
                f"id(s) with {len(judgement.neighbours)} other customer(s) "
                f"({'; '.join(judgement.reasons)}); verify the customers' documents before "
                "extending credit."
            ),
            evidence={
                "reasons": judgement.reasons,
                "shared_identifiers_by_kind": _by_label(judgement.identities),
                "customers": len(named),
                "accounts": sum(len(a) for a in accounts.values()),
            },
            cypher=views.customers(named),
            event_time_ms=at,
        )

    def _account_finding(
        self, customer: CustomerInfo, account: AccountInfo, judgement: Judgement, at: int
    ) -> Finding:
        cid = customer.customer_id
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"account:{account.account_id}",
            score=judgement.score,
            entities=[
                Entity("customer", str(cid), "member"),
                Entity("account", str(account.account_id), "member_account"),
            ],
            explanation=(
                f"Account {account.account_id} ({account.kind or 'account'}) was opened by "
                f"customer {cid}, who shares identifiers with {len(judgement.neighbours)} "
                f"other customer(s) ({'; '.join(judgement.reasons)}): a possible synthetic "
                "identity taking a new product."
            ),
            evidence={
                "reasons": judgement.reasons,
                "customer_id": cid,
                "account_id": account.account_id,
                "neighbours": judgement.neighbours,
            },
            cypher=views.customers([cid, *judgement.neighbours]),
            event_time_ms=at,
        )


def judge_sharing(
    ctx: Context, customer: CustomerInfo, at: int, params: SharedIdentifierParams
) -> Judgement | None:
    """Whether (and why) the customer's shared identifiers look like a ring."""
    found = expand_component(
        ctx,
        customer,
        at,
        max_members=params.max_members,
        max_holders=params.max_holders,
        max_hops=params.max_hops,
    )
    if found.truncated or found.unexplored:
        return None
    cid = customer.customer_id
    ring = found.core(cid, int(params.burst_days * DAY_MS))
    mine = {k: h for k, h in ring.shared.items() if cid in h}
    if not mine:
        return None
    signals = ring_signals(ring, params)
    score = 0.55 + 0.05 * min(len(signals), 5)
    if not signals:
        signals = _pair_signals(customer, mine, ring)
        score = 0.5
    if not signals:
        return None
    if ring.reuses_national_id():
        score += 0.1
    neighbours = sorted({h for holders in mine.values() for h in holders} - {cid})
    return Judgement(sorted(signals), neighbours, sorted(mine), min(0.99, score))


def _pair_signals(
    customer: CustomerInfo, mine: Mapping[IdentityKey, list[int]], ring: Component
) -> list[str]:
    """Why two bonded customers (no third yet) are flagged: a national id on both (a
    person has one), or two identifiers shared across addresses. One phone shared
    across addresses is what honest coincidences look like."""
    if any(key[0] == NATIONAL_ID for key in mine):
        return ["national id re-used"]
    cid = customer.customer_id
    for pair, count in ring.bonds().items():
        other = pair[1] if pair[0] == cid else pair[0]
        if cid in pair and count >= 2 and _apart(customer, ring.members[other]):
            return ["several identifiers shared across addresses"]
    return []


DETECTOR = SharedIdentifiers
