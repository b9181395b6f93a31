"""Structuring (smurfing): repeated transfers of amounts just under the 10,000
reporting threshold (9,000-9,990 in the account's currency) within days.

size = sub-threshold transfers.
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import daytime
from fraudgraph.simulator.typologies.base import Case, Reveal, recruit
from fraudgraph.simulator.world import World

NAME = "structuring"
SPAN = 6 * 86_400.0
THRESHOLD_CENTS = 10_000_00
LOW_CENTS = 9_000_00
HIGH_CENTS = 9_990_00


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    people = recruit(w, rng, 1, where=lambda p: p.currency != "PLN")
    if not people:
        return
    person = people[0]
    counterparties = [w.external_iban(person.country.code) for _ in range(rng.randint(1, 3))]
    base = rng.randint(9_300_00, 9_900_00)
    times = sorted(daytime(rng, start, end) for _ in range(size))
    for n, at in enumerate(times):
        if n == 0:
            case.person(person, "structurer", at)
        cents = min(HIGH_CENTS, max(LOW_CENTS, base + rng.randint(-150_00, 90_00)))
        row = act.transfer(
            w, rng, person, at, cents, to_iban=counterparties[n % len(counterparties)]
        )
        case.txn(row, "sub_threshold")
    case.reveals.append(Reveal("confirmed_fraud", customer_id=person.customer_id))
