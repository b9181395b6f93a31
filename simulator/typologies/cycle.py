"""Cycle / round-tripping: money goes A -> B -> ... -> A within days, a small fee
lost at each hop, so the origin gets (almost) its own money back as "income".

size = accounts in the cycle (at least 3); the last hop pays the origin.
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import FX_PER_EUR
from fraudgraph.simulator.typologies.base import (
    Case,
    Reveal,
    attacker_ip,
    new_fraud_person,
    pick_country,
    recruit,
    spread,
)
from fraudgraph.simulator.world import DAY, HOUR, World

NAME = "cycle"
SPAN = 3 * DAY


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    country = pick_country(rng)
    ip = attacker_ip(w, rng)
    device = w.new_device(rng, start, "macos")
    origin = new_fraud_person(w, rng, country, start, home_ip=ip, devices=[device])
    members = [
        origin,
        *recruit(w, rng, max(2, size - 1), where=lambda p: p.currency == country.currency),
    ]
    case.person(origin, "origin", start)
    times = spread(
        rng,
        start + 0.1 * (end - start),
        0.8 * (end - start),
        low=2 * HOUR,
        high=14 * HOUR,
        n=len(members),
    )
    cents = round(rng.uniform(5_000, 20_000) * FX_PER_EUR[country.currency]) * 100
    for hop, at in enumerate(times):
        payer, payee = members[hop], members[(hop + 1) % len(members)]
        if payee is not origin:
            case.person(payee, "member", at)
        if payer is origin:
            row = act.transfer(
                w, rng, payer, at, cents, to_account=payee.checking, device=device, ip=ip
            )
        else:
            row = act.transfer(w, rng, payer, at, cents, to_account=payee.checking)
        case.txn(row, "hop")
        cents -= max(100, int(cents * rng.uniform(0.002, 0.02)))
    case.touch("device", device, "origin_device", start)
    case.touch("ip", ip, "origin_ip", start)
    case.reveals.append(Reveal("confirmed_fraud", account_id=origin.checking))
