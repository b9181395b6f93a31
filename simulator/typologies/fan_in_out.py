"""Fan-in and fan-out: many accounts pay one collector within a day or two, then it
cashes out; or one distributor pays many accounts within hours, and they each
withdraw or forward. Even case numbers are fan-in, odd ones fan-out.

size = counterparties (senders or receivers).
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
)
from fraudgraph.simulator.world import DAY, HOUR, MINUTE, World

NAME = "fan_in_out"
SPAN = 2 * DAY


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    country = pick_country(rng)
    fx = FX_PER_EUR[country.currency]
    ip = attacker_ip(w, rng)
    device = w.new_device(rng, start, "android")
    hub = new_fraud_person(w, rng, country, start, home_ip=ip, devices=[device])
    others = recruit(w, rng, size, where=lambda p: p.currency == country.currency)
    active = start + 0.1 * (end - start)
    window = min(36 * HOUR, 0.6 * (end - active))
    if case.index % 2 == 0:
        case.person(hub, "collector", start)
        total = 0
        last = active
        for sender in others:
            at = active + rng.uniform(0, window)
            cents = round(rng.uniform(300, 2_500) * fx) * 100
            total += cents
            case.person(sender, "sender", at)
            row = act.transfer(w, rng, sender, at, cents, to_account=hub.checking)
            case.txn(row, "deposit")
            last = max(last, at)
        if total:
            cash_out_at = last + rng.uniform(0.1, 0.35) * (end - last)
            row = act.transfer(
                w,
                rng,
                hub,
                cash_out_at,
                int(total * 0.95),
                to_iban=w.external_iban(),
                device=device,
                ip=ip,
            )
            case.txn(row, "cash_out")
    else:
        case.person(hub, "distributor", start)
        window = min(6 * HOUR, window)
        for receiver in others:
            at = active + rng.uniform(0, window)
            cents = round(rng.uniform(500, 2_000) * fx) * 100
            case.person(receiver, "receiver", at)
            row = act.transfer(
                w, rng, hub, at, cents, to_account=receiver.checking, device=device, ip=ip
            )
            case.txn(row, "payout")
            onward = at + rng.uniform(30 * MINUTE, min(20 * HOUR, 0.3 * (end - at)))
            if rng.random() < 0.5:
                row = act.transfer(
                    w, rng, receiver, onward, int(cents * 0.9), to_iban=w.external_iban()
                )
                case.txn(row, "forward")
            else:
                withdrawal = act.atm(w, rng, receiver, onward)
                if withdrawal is not None:
                    case.txn(withdrawal, "withdrawal")
    case.touch("device", device, "hub_device", start)
    case.touch("ip", ip, "hub_ip", start)
    case.reveals.append(Reveal("confirmed_fraud", customer_id=hub.customer_id))
