"""Detector `identity_ring`: the ring of customers bound by shared strong identifiers
around a new or changed customer, one alert per ring and size tier.

How customers are bound, and households told from rings: `_identifiers`, `_rings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors._identifiers import (
    _accounts_open_at,
    _by_label,
    _fraud_reports,
    _member_entities,
    _reported_customers,
    known_at,
    strong_of,
)
from fraudgraph.detection.detectors._rings import (
    Component,
    IdentityParams,
    expand_component,
    ring_signals,
    ring_tier,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)


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


DETECTOR = IdentityRing
