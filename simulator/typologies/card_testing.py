"""Card testing: from one device and IP, bursts of tiny card-not-present payments
(<= 2.00) across many merchants on one to three stolen cards, many declined, then
one large online purchase per card that passed.

size = tiny payments per card (spread over at least min(size, 5) merchants).
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import BY_NAME, lognormal_cents
from fraudgraph.simulator.typologies.base import Case, Reveal, attacker_ip, recruit
from fraudgraph.simulator.world import MINUTE, World

NAME = "card_testing"
SPAN = 2 * 3600.0
TINY_MAX_CENTS = 200


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    ip = attacker_ip(w, rng)
    device = w.new_device(rng, start, "linux")
    case.touch("device", device, "attacker_device", start)
    case.touch("ip", ip, "attacker_ip", start)
    victims = recruit(w, rng, rng.randint(1, 3))
    online = [m for m in w.merchants if m.city is None and m.category in ("digital", "marketplace")]
    large = BY_NAME["electronics"]
    at = start + rng.uniform(0, 0.1) * (end - start)
    for victim in victims:
        card = w.usable_card(rng, victim, at)
        if card is None:
            continue
        merchants = rng.sample(online, min(len(online), max(5, min(size, 8))))
        case.person(victim, "victim", at, account=False)
        case.touch("account", w.card_account[card], "victim_account", at)
        case.touch("card", card, "tested_card", at)
        for n in range(size):
            at += rng.uniform(8, 90)
            merchant = merchants[n % len(merchants)]
            status = "declined" if rng.random() < (0.5 if n < size // 2 else 0.2) else "posted"
            row = w.txn(
                w.card_account[card],
                at,
                "card_not_present",
                rng.randint(50, TINY_MAX_CENTS),
                w.merchant_currency(merchant),
                merchant=merchant.merchant_id,
                card=card,
                device=device,
                ip=ip,
                status=status,
            )
            case.txn(row, "test", parties=False)
            case.touch("card", card, "tested_card", at)
        at += rng.uniform(5, 30) * MINUTE
        row_large = act.card_payment(
            w,
            rng,
            victim,
            min(at, end - 1),
            category=large,
            online=True,
            card=card,
            cents=lognormal_cents(rng, 900, 0.5, victim.currency),
            device=device,
            ip=ip,
            status="posted",
        )
        if row_large is not None:
            case.txn(row_large, "cash_out", parties=False)
            case.touch("card", card, "tested_card", row_large.created_at.timestamp())
            case.reveals.append(Reveal("chargeback", txn_id=row_large.txn_id))
        at += rng.uniform(1, 10) * MINUTE
