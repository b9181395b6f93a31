"""Single everyday events — a card payment, a login session, a transfer, a cash
withdrawal — used alike by the bulk history, the live stream and the typologies
(fraudsters pay for groceries too)."""

from __future__ import annotations

import random
from datetime import datetime

from fraudgraph.simulator.catalog import Category, everyday_category, lognormal_cents
from fraudgraph.simulator.geo import City
from fraudgraph.simulator.rows import Transaction
from fraudgraph.simulator.world import DAY, HOUR, MerchantInfo, Person, World, to_dt

DECLINE_RATE = 0.015
REVERSAL_RATE = 0.004
ONLINE_ABROAD = ("IE", "LU", "US")


def pick_ip(rng: random.Random, person: Person, at: float) -> str:
    """Office on weekday working hours for some, else home broadband or mobile."""
    dt = to_dt(at)
    if person.office_ip and dt.weekday() < 5 and 8 <= dt.hour < 18 and rng.random() < 0.6:
        return person.office_ip
    return person.home_ip if rng.random() < 0.65 else person.mobile_ip


def session(w: World, rng: random.Random, person: Person, at: float) -> tuple[int | None, str]:
    """Log in shortly before `at` (sometimes after a failed try); the device and IP used."""
    device = rng.choice(person.devices) if person.devices else None
    ip = pick_ip(rng, person, at)
    login_at = at - rng.uniform(5, 240)
    if rng.random() < 0.03:
        w.login(person, login_at - rng.uniform(10, 90), device, ip, success=False)
    w.login(person, login_at, device, ip)
    return device, ip


def pick_merchant(
    w: World, rng: random.Random, category: Category, country: str, city: City | None
) -> MerchantInfo:
    if city is not None:
        shops = w.local_merchants.get((city.name, category.name)) or w.local_merchants.get(
            (city.name, "grocery")
        )
        if shops:
            return rng.choice(shops)
    home = country if rng.random() < 0.8 else rng.choice(ONLINE_ABROAD)
    online = (
        w.online_merchants.get((home, category.name))
        or w.online_merchants.get((country, category.name))
        or w.online_merchants[(country, "marketplace")]
    )
    return rng.choice(online)


def card_payment(
    w: World,
    rng: random.Random,
    person: Person,
    at: float,
    *,
    category: Category | None = None,
    city: City | None = None,
    online: bool | None = None,
    card: int | None = None,
    cents: int | None = None,
    device: int | None = None,
    ip: str | None = None,
    status: str | None = None,
) -> Transaction | None:
    """One card payment: in a shop of `city` (card present) or online (card not present)."""
    if card is None:
        card = w.usable_card(rng, person, at)
        if card is None:
            return None
    category = category or everyday_category(rng)
    if online is None:
        online = rng.random() < category.online_share
    if online:
        merchant = pick_merchant(w, rng, category, person.country.code, None)
        lat = lon = None
        if device is None and ip is None and person.devices:
            device, ip = rng.choice(person.devices), pick_ip(rng, person, at)
        channel = "card_not_present"
    else:
        place = city or person.city
        merchant = pick_merchant(w, rng, category, place.country, place)
        lat = round(place.latitude + rng.uniform(-0.05, 0.05), 6)
        lon = round(place.longitude + rng.uniform(-0.08, 0.08), 6)
        channel = "card_present"
    currency = w.merchant_currency(merchant)
    if cents is None:
        cents = lognormal_cents(rng, category.median_eur, category.sigma, currency)
    if status is None:
        status = "declined" if rng.random() < DECLINE_RATE else "posted"
        if status == "posted" and at > w.end - 12 * HOUR and rng.random() < 0.3:
            status = "pending"
    row = w.txn(
        w.card_account[card],
        at,
        channel,
        cents,
        currency,
        merchant=merchant.merchant_id,
        card=card,
        device=device if online else None,
        ip=ip if online else None,
        lat=lat,
        lon=lon,
        status=status,
    )
    if status == "posted" and rng.random() < REVERSAL_RATE:
        reverse(w, rng, row, at)
    return row


def reverse(w: World, rng: random.Random, row: Transaction, at: float) -> None:
    """The merchant refunds the payment a day or three later (if that is still simulated)."""
    later = at + rng.uniform(0.5, 3) * DAY
    if later < w.end:
        when = to_dt(later)
        w.sink.update("transactions", row.txn_id, when, status="reversed", updated_at=when)


def atm(
    w: World, rng: random.Random, person: Person, at: float, city: City | None = None
) -> Transaction | None:
    card = w.usable_card(rng, person, at)
    if card is None:
        return None
    place = city or person.city
    units = rng.choice((20, 20, 40, 50, 60, 100, 100, 150, 200, 300))
    currency = w.account_currency(w.card_account[card])
    if currency == "PLN":
        units *= 4
    return w.txn(
        w.card_account[card],
        at,
        "atm",
        units * 100,
        currency,
        card=card,
        lat=round(place.latitude + rng.uniform(-0.04, 0.04), 6),
        lon=round(place.longitude + rng.uniform(-0.06, 0.06), 6),
    )


def transfer(
    w: World,
    rng: random.Random,
    person: Person,
    at: float,
    cents: int,
    *,
    to_account: int | None = None,
    to_iban: str | None = None,
    channel: str = "transfer",
    from_account: int | None = None,
    device: int | None = None,
    ip: str | None = None,
    log_in: bool = True,
    status: str = "posted",
) -> Transaction:
    """Money out of `from_account` (default: checking), after a login unless given a session."""
    if log_in and device is None and ip is None:
        device, ip = session(w, rng, person, at)
    account = from_account if from_account is not None else person.checking
    return w.txn(
        account,
        at,
        channel,
        cents,
        w.account_currency(account),
        counterparty_account=to_account,
        counterparty_iban=to_iban,
        device=device,
        ip=ip,
        status=status,
    )


def p2p(w: World, rng: random.Random, person: Person, at: float) -> Transaction | None:
    friends = [w.persons[c] for c in person.circle if w.persons[c].active_until > at]
    if not friends:
        return None
    friend = rng.choice(friends)
    cents = lognormal_cents(rng, 25, 0.9, person.currency)
    if rng.random() < 0.5:
        cents = max(500, round(cents, -3))  # people send round sums
    return transfer(w, rng, person, at, cents, to_account=friend.checking, channel="p2p")


def update_contact(
    w: World, person: Person, at: float, *, email: bool, phone: bool, own_name: bool = True
) -> None:
    """A customer changes e-mail and/or phone to a new, never-used value.

    `own_name=False` gives an address under someone else's name (an attacker's).
    """
    ids = w.identities
    code = person.country.code
    changes: dict[str, object] = {}
    if email:
        fake = ids.faker(code)
        first, last = person.given_name, person.family_name
        if not own_name or not first:
            first, last = fake.first_name(), fake.last_name()
        changes["email"] = ids.email(code, first, last)
    if phone:
        changes["phone"] = ids.phone(code)
    when: datetime = to_dt(at)
    w.sink.update("customers", person.customer_id, when, updated_at=when, **changes)
