"""Impossible travel: a cloned card pays in a shop far away (> 1,500 km) within
20-90 minutes of a genuine card-present payment at home, then again there.

size = card-present payments at the far place.
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import BY_NAME, lognormal_cents
from fraudgraph.simulator.geo import all_cities, haversine_km
from fraudgraph.simulator.typologies.base import Case, Reveal, recruit
from fraudgraph.simulator.world import MINUTE, World

NAME = "impossible_travel"
SPAN = 4 * 3600.0
MIN_DISTANCE_KM = 1_500.0


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    victims = recruit(w, rng, 1)
    if not victims:
        return
    victim = victims[0]
    home = victim.city
    at = start + rng.uniform(0, 0.2) * (end - start)
    card = w.usable_card(rng, victim, at)
    if card is None:
        return
    anchor = act.card_payment(
        w,
        rng,
        victim,
        at,
        category=BY_NAME["grocery"],
        city=home,
        online=False,
        card=card,
        status="posted",
    )
    far = [
        c
        for c in all_cities()
        if haversine_km(home.latitude, home.longitude, c.latitude, c.longitude) > MIN_DISTANCE_KM
    ]
    city = rng.choice(far)
    case.person(victim, "victim", at, account=False)
    case.touch("account", w.card_account[card], "victim_account", at)
    case.touch("card", card, "cloned_card", at)
    if anchor is not None:
        case.txn(anchor, "anchor", parties=False)
    at += rng.uniform(20, 90) * MINUTE
    for n in range(size):
        category = BY_NAME[rng.choice(("electronics", "department", "clothing"))]
        row = act.card_payment(
            w,
            rng,
            victim,
            at,
            category=category,
            city=city,
            online=False,
            card=card,
            cents=lognormal_cents(rng, 450, 0.6, victim.currency),
            status="posted",
        )
        if row is not None:
            case.txn(row, "far_payment", parties=False)
            case.touch("card", card, "cloned_card", at)
            if n == 0:
                case.reveals.append(Reveal("chargeback", txn_id=row.txn_id))
        at += rng.uniform(5, 25) * MINUTE
