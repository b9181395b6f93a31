"""Account takeover: a login from a new device and IP (after failed tries), the
victim's e-mail and phone changed minutes later, then a payout to a new payee —
another bank, or a mule account here that the victim never paid before.

size = victims per attacker (the attacker re-uses one device and IP across them).
"""

from __future__ import annotations

import random
from functools import partial

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import FX_PER_EUR
from fraudgraph.simulator.typologies.base import Case, Reveal, attacker_ip, recruit
from fraudgraph.simulator.world import MINUTE, Person, World

NAME = "account_takeover"
SPAN = 6 * 3600.0


def _same_currency(currency: str, person: Person) -> bool:
    return person.currency == currency


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    ip = attacker_ip(w, rng)
    device = w.new_device(rng, start, rng.choice(("windows", "linux")))
    victims = recruit(w, rng, size)
    slot = (end - start - 300) / max(1, len(victims))
    for n, victim in enumerate(victims):
        at = start + 300 + n * slot + rng.uniform(0, 0.2) * slot  # after the failed tries
        for _ in range(rng.randint(1, 3)):
            w.login(victim, at - rng.uniform(30, 300), device, ip, success=False)
        login = w.login(victim, at, device, ip)
        case.person(victim, "victim", at - 300)
        case.touch("device", device, "attacker_device", at)
        case.touch("ip", ip, "attacker_ip", login.occurred_at.timestamp())
        changed = at + rng.uniform(3, 25) * MINUTE
        act.update_contact(w, victim, changed, email=True, phone=True, own_name=False)
        case.touch("customer", victim.customer_id, "victim", changed)
        payout_at = changed + rng.uniform(5, min(90, max(6, (end - changed) / MINUTE / 2))) * MINUTE
        cents = round(rng.uniform(1_500, 9_000) * FX_PER_EUR[victim.currency]) * 100
        new_payee_here = rng.random() < 0.4
        same_currency = partial(_same_currency, victim.currency)
        mules = recruit(w, rng, 1, where=same_currency) if new_payee_here else []
        if mules:
            case.person(mules[0], "payee", payout_at)
            row = act.transfer(
                w, rng, victim, payout_at, cents, to_account=mules[0].checking, device=device, ip=ip
            )
        else:
            row = act.transfer(
                w, rng, victim, payout_at, cents, to_iban=w.external_iban(), device=device, ip=ip
            )
        case.txn(row, "payout")
        if rng.random() < 0.3:
            again = payout_at + rng.uniform(10, 40) * MINUTE
            row = act.transfer(
                w, rng, victim, again, cents // 2, to_iban=w.external_iban(), device=device, ip=ip
            )
            case.txn(row, "payout")
        case.reveals.append(Reveal("confirmed_fraud", txn_id=row.txn_id))
