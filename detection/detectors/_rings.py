"""Rings of customers bound by shared strong identifiers, as the identity detectors see them.

A bounded search around a customer (`expand_component`), its core (`Component.core`),
whether it is a ring rather than a family (`ring_signals`), the thresholds every
identity rule has (`IdentityParams`) and the size tiers a ring's alert grows by
(`ring_tier`). Used by `shared_identifiers`, `identity_ring`, `fraud_proximity` and
the whole-graph analysis (detection/clusters.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Params
from fraudgraph.detection.detectors._identifiers import (
    NATIONAL_ID,
    _onboarded_within,
    address_of,
    known_at,
    strong_of,
)
from fraudgraph.detection.history import CustomerInfo, IdentityKey

# Size tiers of a ring's alert: a ring re-alerts when it grows into the next tier
# (Fibonacci: each step is material, ~1.6x), not on every new member.
RING_TIERS = (3, 5, 8, 13, 21, 34, 55, 89, 144)


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


def ring_tier(size: int) -> int:
    return max((t for t in RING_TIERS if t <= size), default=0)
