"""The fraud typologies: one module each, registered here with their defaults.

Every module has `NAME`, `SPAN` (how much event time a case naturally takes) and
`inject(world, rng, case, start, end, size)`, which emits the case's rows through
the world's sink and records its labelled entities in `case`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudgraph.simulator.labels import FRAUD
from fraudgraph.simulator.typologies import (
    account_takeover,
    card_testing,
    cycle,
    fan_in_out,
    impossible_travel,
    mule_chain,
    structuring,
    synthetic_identity,
)
from fraudgraph.simulator.typologies.base import Case, Inject, Reveal


@dataclass(frozen=True)
class Typology:
    name: str
    inject: Inject
    span: float
    default_count: int  # cases in a bank of 10,000 customers (scaled with --customers)
    default_size: int
    min_size: int
    size_means: str
    kind: str = FRAUD  # LOOKALIKE: honest, labelled only so scoring can count its flags


TYPOLOGIES: dict[str, Typology] = {
    t.name: t
    for t in (
        Typology(
            synthetic_identity.NAME,
            synthetic_identity.inject,
            synthetic_identity.SPAN,
            10,
            6,
            3,
            "members",
        ),
        Typology(
            mule_chain.NAME, mule_chain.inject, mule_chain.SPAN, 20, 4, 2, "mules in the chain"
        ),
        Typology(
            fan_in_out.NAME, fan_in_out.inject, fan_in_out.SPAN, 12, 10, 3, "senders or receivers"
        ),
        Typology(cycle.NAME, cycle.inject, cycle.SPAN, 10, 4, 3, "accounts in the cycle"),
        Typology(
            account_takeover.NAME,
            account_takeover.inject,
            account_takeover.SPAN,
            25,
            1,
            1,
            "victims per attacker",
        ),
        Typology(
            card_testing.NAME,
            card_testing.inject,
            card_testing.SPAN,
            20,
            12,
            3,
            "tiny payments per card",
        ),
        Typology(
            impossible_travel.NAME,
            impossible_travel.inject,
            impossible_travel.SPAN,
            20,
            2,
            1,
            "far-away payments",
        ),
        Typology(
            structuring.NAME,
            structuring.inject,
            structuring.SPAN,
            15,
            5,
            3,
            "sub-threshold transfers",
        ),
    )
}

__all__ = ["TYPOLOGIES", "Case", "Reveal", "Typology"]
