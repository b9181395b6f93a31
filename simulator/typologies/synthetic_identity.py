"""Synthetic-identity ring: customers stitched together from shared phones, e-mails,
addresses, devices and a re-used national id; they build trust, then bust out.

size = members. Member i takes phone i % P, address (i // 2) % A, device i % D and,
for even i, e-mail (i // 2) % E; the first two or three re-use one national id. So
every member shares at least one identifier with another: one connected ring.
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator import normal_life
from fraudgraph.simulator.catalog import BY_NAME, lognormal_cents
from fraudgraph.simulator.typologies.base import (
    Case,
    Reveal,
    attacker_ip,
    new_fraud_person,
    pick_country,
)
from fraudgraph.simulator.world import DAY, HOUR, World

NAME = "synthetic_identity"
SPAN = 20 * DAY


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    ids = w.identities
    country = pick_country(rng)
    code = country.code
    span = end - start
    onboarding_end = start + 0.45 * span
    bust_start = start + 0.8 * span
    fake = ids.faker(code)
    phones = [ids.phone(code) for _ in range(max(1, size // 3))]
    emails = [
        ids.email(code, fake.first_name(), fake.last_name()) for _ in range(max(1, size // 4))
    ]
    addresses = [ids.address(code) for _ in range(max(1, size // 3))]
    donor_nid = ids.national_id(code, w.date_of_birth(rng, 25, 60))
    reuse_nid = 3 if size >= 5 else 2
    ring_ip = attacker_ip(w, rng)
    devices = [
        w.new_device(rng, start, rng.choice(("android", "windows")))
        for _ in range(2 if size >= 4 else 1)
    ]
    for device in devices:
        case.touch("device", device, "shared_device", start)
    members = []
    for i in range(size):
        created = start + (onboarding_end - start) * (i + rng.random()) / size
        member = new_fraud_person(
            w,
            rng,
            country,
            created,
            home_ip=ring_ip,
            devices=[devices[i % len(devices)]],
            phone=phones[i % len(phones)],
            address=addresses[(i // 2) % len(addresses)],
            email=emails[(i // 2) % len(emails)] if i % 2 == 0 else None,
            national_id=donor_nid if i < reuse_nid else None,
            credit=rng.random() < 0.7,
        )
        members.append(member)
        case.person(member, "member", created)
        for account in member.accounts:
            case.touch("account", account, "member_account", created)
        for card in member.cards:
            case.touch("card", card, "member_card", created)
        w.login(member, created + rng.uniform(10, 60), member.devices[0], ring_ip)
        case.touch("ip", ring_ip, "shared_ip", created)
        case.touch("device", member.devices[0], "shared_device", created)
    # Building a history: everyday spending and small transfers between members.
    for member in members:
        normal_life.live_person(
            w, rng, member, max(member.ready, member.created + DAY / 2), bust_start
        )
    for _ in range(size):
        payer, payee = rng.sample(members, 2)
        at = max(rng.uniform(onboarding_end, bust_start), payer.ready, payee.ready)
        row = act.transfer(
            w,
            rng,
            payer,
            at,
            lognormal_cents(rng, 120, 0.6, country.currency),
            to_account=payee.checking,
            channel="p2p",
            device=payer.devices[0],
            ip=ring_ip,
        )
        case.txn(row, "internal_transfer")
    # Bust-out: max out cards online, empty accounts to other banks, all within hours.
    electronics = BY_NAME["electronics"]
    for member in members:
        at = rng.uniform(bust_start, end - 2 * HOUR)
        for card in member.cards:
            for _ in range(rng.randint(1, 3)):
                at += rng.uniform(5, 40) * 60
                purchase = act.card_payment(
                    w,
                    rng,
                    member,
                    at,
                    category=electronics,
                    online=True,
                    card=card,
                    cents=lognormal_cents(rng, 900, 0.4, country.currency),
                    device=member.devices[0],
                    ip=ring_ip,
                    status="posted",
                )
                if purchase is not None:
                    case.txn(purchase, "bust_out", parties=False)
        row = act.transfer(
            w,
            rng,
            member,
            at + rng.uniform(10, 60) * 60,
            lognormal_cents(rng, 3000, 0.4, country.currency),
            to_iban=w.external_iban(),
            device=member.devices[0],
            ip=ring_ip,
        )
        case.txn(row, "bust_out", parties=False)
    case.reveals.append(Reveal("confirmed_fraud", customer_id=members[0].customer_id))
