"""Detectors: identity — customers bound together by identifiers a person does not share.

Edges between customers come from *strong* identifiers (phone, e-mail, national id):
each belongs to one person, so two customers holding the same one are a household
sharing a landline or a family e-mail, or one fraudster behind several customers.
Addresses, devices and IPs are shared honestly all the time (a household has one
address, one home IP and maybe a tablet; colleagues sit behind one office IP; thousands
of phones sit behind a carrier's CGNAT address), so they never make an edge on their
own. The address only tells a household (everybody at one address, no more people than
a home holds, each with their own national id) from a ring (one phone across several
addresses, one national id on several customers).

Every detector judges a customer as known at the triggering event's time: customers
created or changed later are not there yet (a replay in snapshot order, where every
customer arrives before the first payment, sees what the live stream saw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import (
    STRONG_IDENTITIES,
    AccountInfo,
    CustomerInfo,
    IdentityKey,
    Report,
    Txn,
)
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)

NATIONAL_ID = "NationalId"
ADDRESS = "Address"
# Size tiers of a ring's alert: a ring re-alerts when it grows into the next tier
# (Fibonacci: each step is material, ~1.6x), not on every new member.
RING_TIERS = (3, 5, 8, 13, 21, 34, 55, 89, 144)
LATEST = 2**62  # "as of now": every customer in the graph is known


# -- what a customer is known to hold at a time --------------------------------------
def known_at(customer: CustomerInfo, at: int) -> bool:
    """The customer's current identifiers were held at `at` (created or last changed by then).

    A customer changed after `at` may not have held today's phone at `at`; leaving it
    out keeps a replay from seeing the future (the live stream had not seen it either).
    """
    since = customer.updated_at or customer.created_at
    return since is None or since <= at


def _since(customer: CustomerInfo) -> int:
    """When the customer's current identifiers were first held (0: unknown)."""
    return customer.updated_at or customer.created_at or 0


def strong_of(customer: CustomerInfo) -> list[IdentityKey]:
    return [key for key in customer.identities if key[0] in STRONG_IDENTITIES]


def address_of(customer: CustomerInfo) -> IdentityKey | None:
    return next((key for key in customer.identities if key[0] == ADDRESS), None)


def _apart(one: CustomerInfo, other: CustomerInfo) -> bool:
    """Both have an address and they differ (unknown addresses prove nothing)."""
    a, b = address_of(one), address_of(other)
    return a is not None and b is not None and a != b


def _onboarded_within(one: CustomerInfo, other: CustomerInfo, span_ms: int) -> bool:
    if one.created_at is None or other.created_at is None:
        return False
    return abs(one.created_at - other.created_at) <= span_ms


def _label_name(label: str) -> str:
    return {"Email": "e-mail", "Phone": "phone", NATIONAL_ID: "national id"}.get(label, label)


def _digest(keys: Iterable[IdentityKey]) -> str:
    text = "|".join(f"{label}:{digest}" for label, digest in sorted(set(keys)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _accounts_open_at(ctx: Context, customer_ids: Collection[int], at: int) -> dict[int, list[int]]:
    """Each customer's accounts already opened at `at` (two round trips for all of them)."""
    owned = ctx.accounts_of_many(sorted(customer_ids))
    infos = ctx.accounts(sorted({a for ids in owned.values() for a in ids}))
    return {c: [a for a in ids if _opened_by(infos.get(a), at)] for c, ids in sorted(owned.items())}


def _opened_by(account: AccountInfo | None, at: int) -> bool:
    return account is not None and (account.opened_at is None or account.opened_at <= at)


def _fraud_reports(
    ctx: Context, customer_ids: Collection[int], account_ids: Collection[int], at: int
) -> list[Report]:
    return [
        r for r in ctx.reports_for(customer_ids, account_ids) if r.is_fraud and r.reported_at <= at
    ]


def _reported_customers(ctx: Context, reports: Iterable[Report]) -> set[int]:
    found: set[int] = set()
    for report in reports:
        if report.customer_id is not None:
            found.add(report.customer_id)
        elif report.account_id is not None and (owner := ctx.owner(report.account_id)):
            found.add(owner)
    return found


def _member_entities(
    customers: Iterable[int], accounts: Mapping[int, list[int]], account_role: str
) -> list[Entity]:
    ordered = sorted(set(customers))
    entities = [Entity("customer", str(c), "member") for c in ordered]
    entities += [
        Entity("account", str(a), account_role) for c in ordered for a in accounts.get(c, [])
    ]
    return entities


# -- components of shared strong identifiers ----------------------------------------------
@dataclass
class Component:
    """Customers joined by strong shared identifiers, as far as a bounded search went."""

    members: dict[int, CustomerInfo]
    shared: dict[IdentityKey, list[int]]  # identifier -> members holding it (>= 2)
    truncated: bool = False  # stopped at the member bound
    unexplored: bool = False  # stopped at the hop bound with customers still to visit
    oversized_identifiers: int = 0

    def bonds(self) -> dict[tuple[int, int], int]:
        """Each linked pair of members and how many identifiers they share."""
        found: dict[tuple[int, int], int] = {}
        for holders in self.shared.values():
            ordered = sorted(holders)
            for n, a in enumerate(ordered):
                for b in ordered[n + 1 :]:
                    found[(a, b)] = found.get((a, b), 0) + 1
        return found

    def density(self) -> float:
        n = len(self.members)
        return len(self.bonds()) / (n * (n - 1) / 2) if n > 1 else 0.0

    def addresses(self) -> int:
        return len({a for c in self.members.values() if (a := address_of(c)) is not None})

    def reuses_national_id(self) -> bool:
        return any(key[0] == NATIONAL_ID for key in self.shared)

    def widest(self) -> int:
        """Most customers on one identifier."""
        return max((len(h) for h in self.shared.values()), default=0)

    def core(self, seed: int, burst_ms: int) -> Component:
        """The seed's ring without the customers merely touching it.

        A bond counts when its two customers share two or more identifiers or were
        onboarded within `burst_ms` of each other: rings open their customers in a
        burst, while an older customer holding one of a ring's phones is a coincidence
        (a recycled or mistyped number) or the person whose identifier the ring
        borrowed, a victim rather than a member. The core is what those bonds connect
        to the seed.
        """
        bonded: dict[int, set[int]] = {}
        for (a, b), count in self.bonds().items():
            if count >= 2 or _onboarded_within(self.members[a], self.members[b], burst_ms):
                bonded.setdefault(a, set()).add(b)
                bonded.setdefault(b, set()).add(a)
        reached, frontier = {seed}, [seed]
        while frontier:
            frontier = sorted({n for m in frontier for n in bonded.get(m, ())} - reached)
            reached.update(frontier)
        shared = {
            key: kept
            for key, holders in self.shared.items()
            if len(kept := [h for h in holders if h in reached]) >= 2
        }
        members = {i: c for i, c in self.members.items() if i in reached}
        return Component(
            members, shared, self.truncated, self.unexplored, self.oversized_identifiers
        )

    def onboarding_span_days(self) -> float | None:
        created = [c.created_at for c in self.members.values() if c.created_at is not None]
        return (max(created) - min(created)) / DAY_MS if len(created) > 1 else None


def expand_component(
    ctx: Context,
    seed: CustomerInfo,
    at: int,
    *,
    max_members: int,
    max_holders: int,
    max_hops: int | None = None,
) -> Component:
    """Breadth-first over shared strong identifiers from `seed`, customers known at `at`.

    Two round trips per hop (who holds these identifiers, what those customers hold),
    for all of the hop's customers at once; stops at `max_members` with `truncated`
    set, and after `max_hops` hops with `unexplored` set if customers were left to
    visit, so neither a placeholder phone on thousands of customers nor a long chain
    costs more than a bounded search.
    Identifiers on more than `max_holders` known customers are skipped and counted.
    """
    component = Component({seed.customer_id: seed}, {})
    fetched: set[IdentityKey] = set()
    frontier = [seed]
    hops = 0
    while frontier and not component.truncated and (max_hops is None or hops < max_hops):
        hops += 1
        keys = sorted({k for c in frontier for k in strong_of(c)} - fetched)
        fetched.update(keys)
        found = ctx.sharing(keys)
        # Holders of a placeholder can be thousands: never fetch more than the bound.
        small = {k: found[k] for k in keys if len(found[k]) <= max_members}
        unseen = sorted({i for ids in small.values() for i in ids} - set(component.members))
        infos = {i: c for i, c in ctx.customers(unseen).items() if known_at(c, at)}
        known = {
            k: [i for i in ids if i in component.members or i in infos] for k, ids in small.items()
        }
        usable = {k: ids for k, ids in known.items() if len(ids) <= max_holders}
        component.oversized_identifiers += len(keys) - len(usable)
        frontier = []
        for i in sorted({i for ids in usable.values() for i in ids} - set(component.members)):
            if len(component.members) >= max_members:
                component.truncated = True
                break
            component.members[i] = infos[i]
            frontier.append(infos[i])
        for key, ids in usable.items():
            holders = [i for i in ids if i in component.members]
            if len(holders) >= 2:
                component.shared[key] = holders
    component.unexplored = bool(frontier) and not component.truncated
    return component


class IdentityParams(Params):
    min_members: int = Field(
        default=3,
        ge=2,
        description="Customers a ring needs: two sharing a phone is a pair, not yet a ring.",
    )
    household_max: int = Field(
        default=4,
        ge=1,
        description=(
            "Customers at one address who may share a landline or a family e-mail: a home "
            "holds a handful of people (the simulated bank's households are 1-4). A group "
            "at one address, no bigger, each with their own national id, is a family."
        ),
    )
    max_members: int = Field(
        default=200,
        ge=3,
        description=(
            "Bound of the search around a customer. A component this big is a data "
            "problem (a placeholder identifier), logged, never alerted as a ring."
        ),
    )
    max_holders: int = Field(
        default=25,
        ge=2,
        description=(
            "An identifier on more customers than this is a placeholder or data-quality "
            "problem (a branch phone, 'none@none'), not a ring: ignored."
        ),
    )
    max_hops: int = Field(
        default=8,
        ge=1,
        description=(
            "Hops of the search (2 round trips each). Rings are small-world (every member "
            "within 3 hops of every other in the simulated ones); a component still "
            "growing after 8 is a chain, a data problem handled like `max_members`."
        ),
    )
    burst_days: float = Field(
        default=30,
        gt=0,
        description=(
            "Customers onboarded this close together and sharing an identifier are bonded "
            "(see `Component.core`): rings open their customers within days (the "
            "simulated ones within 9), honest coincidences bind customers onboarded years "
            "apart (about 5 such pairs per 1,000 customers)."
        ),
    )


def ring_signals(component: Component, params: IdentityParams) -> list[str]:
    """Why the component is a ring (empty: it is not).

    Not a family: a re-used national id (a person has one), members at several
    addresses, or more of them than a home holds. Not a chain of coincidences (a
    recycled phone number, a typo, each binding just two customers by one identifier,
    about 5 honest pairs per 1,000 customers): one identifier on three or more
    customers, or two customers bound by two identifiers.
    """
    size = len(component.members)
    if size < params.min_members:
        return []
    signals = []
    if component.reuses_national_id():
        signals.append("national id re-used")
    if component.addresses() >= 2:
        signals.append(f"{component.addresses()} addresses")
    if size > params.household_max:
        signals.append("more than a household")
    if not signals:
        return []
    widest = component.widest()
    tightest = max(component.bonds().values(), default=0)
    if widest < 3 and tightest < 2:
        return []
    if widest >= 3:
        signals.append(f"one identifier on {widest} customers")
    if tightest >= 2:
        signals.append("customers sharing several identifiers")
    return signals


# -- shared_identifiers -----------------------------------------------------------------
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
        if account is None:
            yield from self._judged_again(ctx, customer, event.at)

    def _judged_again(self, ctx: Context, customer: CustomerInfo, at: int) -> Iterator[Finding]:
        """What in-order processing would have raised with this customer in view.

        Customers and accounts are separate topics, and partitions of one topic are
        read at different paces: a customer can reach the graph after customers who
        joined later and share its identifiers, or after its own accounts. Those were
        judged without it. Each is judged again as of its own time (the graph filtered
        to what was known then), so the alerts and ids are those of in-order
        processing, whichever arrived first; the ones already sent are deduplicated.
        """
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
            if member.customer_id != customer.customer_id and not ctx.in_batch(
                "customer", member.customer_id
            ):
                judgement = judge_sharing(ctx, member, since, self.params)
                if judgement is not None:
                    yield self._customer_finding(ctx, member, judgement, since)
            for account_id in owned.get(member.customer_id, []):
                account = infos.get(account_id)
                opened = account.opened_at if account is not None else None
                if account is None or opened is None or opened < at or opened < since:
                    continue
                if ctx.in_batch("account", account_id):
                    continue  # judged as its own event
                judgement = judge_sharing(ctx, member, opened, self.params)
                if judgement is not None:
                    yield self._account_finding(member, account, judgement, opened)

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


def _by_label(keys: Iterable[IdentityKey]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label, _ in keys:
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


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


# -- identity_ring ------------------------------------------------------------------------
def ring_tier(size: int) -> int:
    return max((t for t in RING_TIERS if t <= size), default=0)


class IdentityRingParams(IdentityParams):
    money_days: float = Field(
        default=30,
        gt=0,
        description="Window of transfers among the members counted as money circulated.",
    )


@dataclass(frozen=True, slots=True)
class RingFacts:
    reported: set[int]
    circulated: float
    transfers: list[Txn]


class IdentityRing(Detector):
    """The connected component of strong shared identifiers around a new or changed
    customer, when it is a ring rather than a family (`ring_signals`): one alert per
    ring and size tier, naming every member and account."""

    rule: ClassVar[str] = "identity_ring"
    kind = "cluster"
    handles = frozenset({"customer"})
    params_model = IdentityRingParams
    params: IdentityRingParams

    def detect(self, event: Event, ctx: Context) -> Iterator[Finding]:
        seed = event.customer
        if not strong_of(seed) or not known_at(seed, event.at):
            return
        p = self.params
        component = expand_component(
            ctx,
            seed,
            event.at,
            max_members=p.max_members,
            max_holders=p.max_holders,
            max_hops=p.max_hops,
        )
        if component.truncated or component.unexplored:
            log.warning(
                "identity_component_too_large",
                customer_id=seed.customer_id,
                members_seen=len(component.members),
                member_bound=p.max_members,
                hop_bound=p.max_hops,
            )
            return
        ring = component.core(seed.customer_id, int(p.burst_days * DAY_MS))
        signals = ring_signals(ring, p)
        if signals:
            yield self._finding(ctx, ring, signals, event.at)

    def _facts(self, ctx: Context, members: list[int], accounts: list[int], at: int) -> RingFacts:
        reported = _reported_customers(ctx, _fraud_reports(ctx, members, accounts, at))
        own = set(accounts)
        since = at - int(self.params.money_days * DAY_MS)
        transfers = [
            t
            for sent in ctx.sent_many(accounts, since, at).values()
            for t in sent
            if t.is_transfer and t.counts and t.counterparty_account_id in own
        ]
        return RingFacts(reported & set(members), sum(t.amount for t in transfers), transfers)

    def _finding(self, ctx: Context, component: Component, signals: list[str], at: int) -> Finding:
        members = sorted(component.members)
        owned = _accounts_open_at(ctx, members, at)
        accounts = sorted(a for ids in owned.values() for a in ids)
        facts = self._facts(ctx, members, accounts, at)
        size, density = len(members), component.density()
        score = (
            0.45
            + 0.2 * min(1.0, (size - 2) / 6)  # bigger rings, up to 8 members
            + 0.1 * density
            + 0.1 * component.reuses_national_id()
            + 0.1 * min(1.0, 3 * len(facts.reported) / size)  # one fraudster in 3 is plenty
            + 0.05 * bool(facts.transfers)
        )
        tier = ring_tier(size)
        span = component.onboarding_span_days()
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The founding (smallest) member and the size tier: the ring re-alerts when it
            # grows into the next tier, and the same ring found from any member is one alert.
            anchor=f"ring:{members[0]}:tier{tier}",
            score=min(0.99, score),
            entities=_member_entities(members, owned, "member"),
            explanation=(
                f"{size} customers (ring of customer {members[0]}) are tied by "
                f"{len(component.shared)} shared phone/e-mail/national id(s) "
                f"({'; '.join(signals)}); {len(facts.reported)} confirmed fraudulent, "
                f"{len(facts.transfers)} transfers among them. Review the ring together."
            ),
            evidence={
                "members": size,
                "tier": tier,
                "signals": signals,
                "accounts": len(accounts),
                "density": round(density, 3),
                "addresses": component.addresses(),
                "onboarding_span_days": round(span, 1) if span is not None else None,
                "shared_identifiers_by_kind": _by_label(component.shared),
                "reported_members": sorted(facts.reported),
                "internal_transfers": len(facts.transfers),
                "money_circulated": round(facts.circulated, 2),
            },
            cypher=views.customers(members),
            txn_ids=[str(t.txn_id) for t in sorted(facts.transfers, key=lambda t: t.txn_id)],
            event_time_ms=at,
        )


# -- fraud_proximity ----------------------------------------------------------------------
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
        default=7,
        gt=0,
        description=(
            "Transfers with a reported account in the days before the report: a case's "
            "money moves within days of being caught (reports follow the last event)."
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
    reported_account: int
    txn: Txn


class FraudProximity(Detector):
    """Customers and accounts next to a confirmed fraud or chargeback report.

    On the report: the reported customer's identity neighbours (within
    `identity_hops` shared strong identifiers) and the accounts it exchanged money
    with in the `money_days` before the report that were not established relations.
    Later: a customer that arrives holding a reported customer's identifier, and a new
    payer feeding a reported account. Reports naming only a payment are skipped (no
    history question finds a payment's accounts by id).
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
            entities.append(Entity("account", str(link.account_id), "counterparty"))
            if link.owner is not None:
                entities.append(Entity("customer", str(link.owner), "counterparty"))
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"report:{report.report_id}",
            score=0.6 + 0.1 * bool(near) + 0.1 * bool(money),
            entities=entities,
            explanation=(
                f"Customer {customer.customer_id} was reported ({report.kind}); "
                f"{len(near)} customer(s) share its identifiers and {len(money)} account(s) "
                f"exchanged money with it in the {self.params.money_days:g} days before: review "
                "them for the same case."
            ),
            evidence={
                "report_id": report.report_id,
                "report_kind": report.kind,
                "identity_neighbours": near,
                "money_counterparties": sorted({m.account_id for m in money}),
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
        moves: list[tuple[Txn, int, int]] = []  # (transfer, reported account, other account)
        for account, sent in ctx.sent_many(accounts, since, at).items():
            moves += [
                (t, account, t.counterparty_account_id) for t in sent if t.counterparty_account_id
            ]
        for account, received in ctx.received_many(accounts, since, at).items():
            moves += [(t, account, t.account_id) for t in received]
        own = set(ctx.accounts_of(customer.customer_id))
        # Bank transfers only: p2p is the friends-and-family channel (a ring's own p2p
        # partners are its identity neighbours already).
        moves = [m for m in moves if m[0].channel == "transfer" and m[0].counts]
        moves = [m for m in moves if m[2] not in own]
        established = {other for t, _, other in moves if t.at < window}
        links: dict[int, MoneyLink] = {}
        for txn, account, other in sorted(moves, key=lambda m: m[0].txn_id):
            if txn.at >= window and txn.amount >= p.min_amount and other not in established:
                links.setdefault(other, MoneyLink(other, ctx.owner(other), account, txn))
        payers = self._paying_many(ctx, [a for a in links if links[a].txn.account_id == a], at)
        kept = [m for m in links.values() if m.account_id not in payers]
        return self._not_household(ctx, customer, kept)

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


DETECTORS: list[type[Detector]] = [SharedIdentifiers, IdentityRing, FraudProximity]
