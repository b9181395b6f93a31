"""Mule chain / layering: money passed A -> B -> C -> ... within hours, each mule
keeping a cut, the last one cashing out to another bank.

size = mules (hops = size + 1 including the cash-out). Hops are strictly ordered in
time and every forwarded amount is strictly smaller than the one received.
"""

from __future__ import annotations

import math
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
from fraudgraph.simulator.world import DAY, HOUR, MINUTE, World

NAME = "mule_chain"
SPAN = 1.5 * DAY


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    country = pick_country(rng)
    ip = attacker_ip(w, rng)
    device = w.new_device(rng, start, "windows")
    origin = new_fraud_person(w, rng, country, start, home_ip=ip, devices=[device])
    case.person(origin, "placement", start)
    case.touch("device", device, "placement_device", start)
    case.touch("ip", ip, "placement_ip", start)
    mules = recruit(w, rng, size, where=lambda p: p.currency == country.currency)
    chain_start = start + 0.2 * (end - start)
    times = spread(
        rng,
        chain_start,
        0.75 * (end - chain_start),
        low=20 * MINUTE,
        high=3 * HOUR,
        n=len(mules) + 1,
    )
    cents = round(rng.uniform(4_000, 15_000) * FX_PER_EUR[country.currency]) * 100
    payer = origin
    for hop, (at, mule) in enumerate(zip(times, mules, strict=False)):
        case.person(mule, "mule", at)
        if hop == 0:
            row = act.transfer(
                w, rng, payer, at, cents, to_account=mule.checking, device=device, ip=ip
            )
        else:
            row = act.transfer(w, rng, payer, at, cents, to_account=mule.checking)
        case.txn(row, "hop")
        cents = math.floor(cents * (1 - rng.uniform(0.03, 0.10)) / 100) * 100  # the mule's cut
        payer = mule
    if mules:
        row = act.transfer(w, rng, payer, times[len(mules)], cents, to_iban=w.external_iban())
        case.txn(row, "cash_out")
    case.reveals.append(Reveal("confirmed_fraud", account_id=origin.checking))
