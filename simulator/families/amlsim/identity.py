"""Synthetic-identity ring, as public accounts describe it: identities stitched from a
few real or invented identifiers, opened over days, that feed one collector.

Per case: which identifiers the members share is drawn (one to three of phone,
address, national id, e-mail), and each shared value is given either exactly or as
a near-duplicate (one digit of a national id changed, a phone written differently,
an e-mail with a dot or tag, an address with a flat number) so exact matching
misses part of the ring. Members log in from one shared device (sometimes two),
from one shared address or each from their own ISP. They pass deposits to a
collector who shares nothing with them. size = members (3-12 by default).
"""

from __future__ import annotations

import random
import re

from fraudgraph.simulator import activities as act
from fraudgraph.simulator import normal_life
from fraudgraph.simulator.families.amlsim.common import Amounts, accounts_in_case, case_window
from fraudgraph.simulator.geo import Country
from fraudgraph.simulator.typologies.base import (
    Case,
    Reveal,
    attacker_ip,
    new_fraud_person,
    pick_country,
    recruit,
)
from fraudgraph.simulator.world import DAY, HOUR, Person, World

SPAN = 30 * DAY
IDENTIFIERS = ("phone", "address", "national_id", "email")


def near_national_id(rng: random.Random, value: str) -> str:
    """The same id with one digit changed (a typo, or a deliberate variation)."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if not digits:
        return value + str(rng.randint(0, 9))
    i = rng.choice(digits)
    other = rng.choice([d for d in "0123456789" if d != value[i]])
    return value[:i] + other + value[i + 1 :]


def reformat_phone(rng: random.Random, value: str) -> str:
    """The same digits written another way: no spaces, dashes, or 00 for +."""
    digits = re.sub(r"[^\d+]", "", value)
    styles = [
        digits,
        "-".join(digits[i : i + 3] for i in range(0, len(digits), 3)),
        digits.replace("+", "00", 1) if digits.startswith("+") else "+" + digits.lstrip("0"),
        " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)),
    ]
    options = [s for s in styles if s != value]
    return rng.choice(options) if options else value + " "


def near_email(rng: random.Random, value: str) -> str:
    local, _, domain = value.partition("@")
    if "." in local and rng.random() < 0.5:
        return f"{local.replace('.', '', 1)}@{domain}"
    return f"{local}+{rng.randint(1, 99)}@{domain}"


def near_address(rng: random.Random, street: str) -> str:
    return rng.choice(
        (f"{street}, flat {rng.randint(1, 40)}", street.upper(), f"{street} ({rng.randint(1, 9)})")
    )


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    ids = w.identities
    country = pick_country(rng)
    code = country.code
    window = case_window(rng, start, end, low_days=6)
    fake = ids.faker(code)
    shared = rng.sample(IDENTIFIERS, rng.randint(1, 3))
    near_share = rng.uniform(0.0, 0.8)  # how often a member's copy is a near-duplicate
    base_phone = ids.phone(code)
    base_email = ids.email(code, fake.first_name(), fake.last_name())
    base_street, base_postcode = ids.address(code)
    base_nid = ids.national_id(code, w.date_of_birth(rng, 25, 60))
    devices = [w.new_device(rng, window.start, rng.choice(("android", "ios", "windows")))]
    if rng.random() < 0.25:
        devices.append(w.new_device(rng, window.start, rng.choice(("android", "ios"))))
    ring_ip = attacker_ip(w, rng) if rng.random() < 0.5 else None
    count = accounts_in_case(rng, size)
    onboarding = window.start + rng.uniform(0.2, 0.6) * window.length
    ring: list[Person] = []
    for i in range(count):
        created = window.start + (onboarding - window.start) * (i + rng.random()) / count

        # The first member holds the exact values; the others copy them, some with a twist.
        near = {name: i > 0 and rng.random() < near_share for name in IDENTIFIERS}

        def variant(name: str, exact: str, twisted: str) -> str | None:
            if name not in shared:
                return None
            return twisted if near[name] else exact  # noqa: B023 - called in this iteration only

        street = variant("address", base_street, near_address(rng, base_street))
        home_ip = ring_ip or w.unique_ip(rng.choice(country.isp_prefixes))
        member = new_fraud_person(
            w,
            rng,
            country,
            created,
            home_ip=home_ip,
            devices=[devices[i % len(devices)]],
            phone=variant("phone", base_phone, reformat_phone(rng, base_phone)),
            email=variant("email", base_email, near_email(rng, base_email)),
            national_id=variant("national_id", base_nid, near_national_id(rng, base_nid)),
            address=(street, base_postcode) if street else None,
        )
        ring.append(member)
        case.person(member, "member", created)
        for card in member.cards:
            case.touch("card", card, "member_card", created)
        login_at = created + rng.uniform(60, 3600)
        w.login(member, login_at, member.devices[0], home_ip)
        case.touch("device", member.devices[0], "shared_device", login_at)
        if ring_ip:
            case.touch("ip", ring_ip, "shared_ip", login_at)
    collector = _collector(w, rng, country, window.start)
    if collector is None:
        return
    # A quiet life first (so the accounts look used), then deposits go to the collector.
    for member in ring:
        normal_life.live_person(
            w, rng, member, member.ready, onboarding + 0.3 * (window.end - onboarding)
        )
    amounts = Amounts(rng, country.currency, 80, 900)
    for member in ring:
        for _ in range(rng.randint(1, 4)):
            at = rng.uniform(max(onboarding, member.ready + HOUR), window.end)
            row = act.transfer(w, rng, member, at, amounts.draw(rng), to_account=collector.checking)
            case.txn(row, "deposit")
            case.person(collector, "collector", at)
    case.reveals.append(Reveal("confirmed_fraud", customer_id=ring[0].customer_id))


def _collector(w: World, rng: random.Random, country: Country, at: float) -> Person | None:
    """Someone sharing no identifier with the ring: an existing customer, or a new one
    with a Faker identity of their own, their own device and their own ISP address."""
    if rng.random() < 0.5:
        found = recruit(w, rng, 1, where=lambda p: p.currency == country.currency)
        return found[0] if found else None
    device = w.new_device(rng, at)
    ip = w.unique_ip(rng.choice(country.isp_prefixes))
    person = new_fraud_person(w, rng, country, at, home_ip=ip, devices=[device])
    w.login(person, at + rng.uniform(60, 1800), device, ip)
    return person
