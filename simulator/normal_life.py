"""Everyday life of one customer over a window, and the rarer legitimate episodes.

Per person: card spending shaped by category and place, cash, salary from an
employer that banks with us, rent and bills, savings, transfers to friends and
family, logins from their own devices and networks. Some people travel (far
enough, slowly enough), move large sums once, change contact details, lose a
card, close an account or leave the bank. Rates are per day.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import BY_NAME, lognormal_cents, poisson
from fraudgraph.simulator.catalog import daytime as day_time
from fraudgraph.simulator.geo import COUNTRIES, FAR_CITIES, City, haversine_km
from fraudgraph.simulator.world import DAY, HOUR, MINUTE, Person, World, to_dt

ATM_RATE = 0.07
P2P_RATE = 0.10
FLIGHT_KMH = 750.0


def monthly(t0: float, t1: float, day_of_month: int, hour: float) -> Iterator[float]:
    """That day of every month (clamped to the 28th) at `hour` UTC, within [t0, t1)."""
    first = datetime.fromtimestamp(t0, UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    year, month = first.year, first.month
    while True:
        at = datetime(year, month, min(day_of_month, 28), tzinfo=UTC).timestamp() + hour * HOUR
        if at >= t1:
            return
        if at >= t0:
            yield at
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def live_person(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> None:
    """Everything ordinary `person` does in [t0, t1)."""
    t1 = min(t1, person.active_until)
    if t1 <= t0:
        return
    if person.business:
        _business_life(w, rng, person, t0, t1)
        return
    days = (t1 - t0) / DAY
    trip = _plan_trip(w, rng, person, t0, t1)
    for _ in range(poisson(rng, person.spend_rate * days)):
        at = day_time(rng, t0, t1)
        city: City | None = None
        if trip is not None and trip.depart <= at < trip.home:
            if not trip.arrive <= at < trip.leave:
                continue  # flying: no shopping at either end
            city = trip.destination
        act.card_payment(w, rng, person, at, city=city, online=False if city else None)
    for _ in range(poisson(rng, person.login_rate * days)):
        act.session(w, rng, person, day_time(rng, t0, t1))
    for _ in range(poisson(rng, ATM_RATE * days)):
        at = day_time(rng, t0, t1)
        if trip is None or not trip.depart <= at < trip.home:
            act.atm(w, rng, person, at)
    if person.circle:
        for _ in range(poisson(rng, P2P_RATE * days)):
            act.p2p(w, rng, person, day_time(rng, t0, t1))
    _recurring(w, rng, person, t0, t1)


def _recurring(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> None:
    if person.employer_account is not None and person.salary_cents:
        employer = w.persons[w.accounts[person.employer_account].customer_id]
        for at in monthly(t0, t1, person.payday, 5 + rng.random()):
            w.txn(
                person.employer_account,
                at,
                "transfer",
                person.salary_cents,
                employer.currency,
                counterparty_account=person.checking,
                ip=employer.office_ip,
            )
    if person.rent_iban:
        for at in monthly(t0, t1, 1 + person.customer_id % 3, 7 + rng.random()):
            act.transfer(
                w, rng, person, at, person.rent_cents, to_iban=person.rent_iban, log_in=False
            )
    for kind, day in (
        ("telecom", 10 + person.customer_id % 9),
        ("utilities", 3 + person.customer_id % 20),
    ):
        if person.cards:
            category = BY_NAME[kind]
            card = person.cards[0]
            for at in monthly(t0, t1, day, 3 + 2 * rng.random()):
                cents = lognormal_cents(rng, category.median_eur, 0.05, person.currency)
                act.card_payment(
                    w, rng, person, at, category=category, online=True, card=card, cents=cents
                )
    savings = [a for a in person.accounts if w.accounts[a].kind == "savings"]
    if savings:
        cents = round(lognormal_cents(rng, 200, 0.6, person.currency), -4) or 5000
        for at in monthly(t0, t1, 26 + person.customer_id % 3, 9 + rng.random() * 10):
            act.transfer(w, rng, person, at, cents, to_account=savings[0])


@dataclass(frozen=True)
class Trip:
    depart: float
    arrive: float
    leave: float
    home: float
    destination: City


def _plan_trip(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> Trip | None:
    """A trip abroad for some, with honest flight times both ways."""
    if rng.random() > 0.04 or t1 - t0 < 4 * DAY:
        return None
    if rng.random() < 0.8:
        abroad = [
            c
            for code, country in COUNTRIES.items()
            if code != person.country.code
            for c in country.cities
        ]
        destination = rng.choice(abroad)
    else:
        destination = rng.choice(FAR_CITIES)
    distance = haversine_km(
        person.city.latitude, person.city.longitude, destination.latitude, destination.longitude
    )
    flight = distance / FLIGHT_KMH * HOUR + rng.uniform(1.5, 3) * HOUR
    depart = rng.uniform(t0, t1 - 3 * DAY)
    arrive = depart + flight
    leave = arrive + rng.uniform(2, 7) * DAY
    booked = depart - rng.uniform(3, 40) * DAY
    if booked >= t0 and person.cards:
        act.card_payment(w, rng, person, booked, category=BY_NAME["airline"], online=True)
    hotel = BY_NAME["hotel"]
    act.card_payment(
        w,
        rng,
        person,
        arrive + rng.uniform(0.5, 2) * HOUR,
        category=hotel,
        city=destination,
        online=False,
    )
    return Trip(depart, arrive, leave, leave + flight, destination)


def _business_life(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> None:
    office = person.office_ip or person.home_ip
    day = t0 - t0 % DAY
    while day < t1:
        if to_dt(day).weekday() < 5:
            for _ in range(rng.randint(1, 3)):
                at = day + rng.uniform(8, 18) * HOUR
                if t0 <= at < t1 and person.devices:
                    w.login(person, at, rng.choice(person.devices), office)
        day += DAY
    days = (t1 - t0) / DAY
    for _ in range(poisson(rng, 0.4 * days)):  # suppliers
        at = day_time(rng, t0, t1)
        cents = lognormal_cents(rng, 3000, 1.0, person.currency)
        act.transfer(
            w,
            rng,
            person,
            at,
            cents,
            to_iban=w.external_iban(person.country.code),
            device=rng.choice(person.devices) if person.devices else None,
            ip=office,
        )
    for _ in range(poisson(rng, person.spend_rate * days)):
        act.card_payment(w, rng, person, day_time(rng, t0, t1), online=True)


def legitimate_episodes(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> None:
    """Rare but honest events, several of which look like fraud to a naive rule.

    Runs before `live_person`, which then respects what it decided (card windows).
    """
    if person.business or t1 - t0 < DAY:
        return
    roll = rng.random
    if roll() < 0.015:  # house deposit, car: one large transfer out
        at = day_time(rng, t0, t1)
        cents = lognormal_cents(rng, 25_000, 0.5, person.currency)
        act.transfer(w, rng, person, at, cents, to_iban=w.external_iban(person.country.code))
    if roll() < 0.007:  # one payment just under 10,000 — once, not a pattern
        at = day_time(rng, t0, t1)
        act.transfer(
            w,
            rng,
            person,
            at,
            rng.randint(9_000_00, 9_990_00),
            to_iban=w.external_iban(person.country.code),
        )
    if roll() < 0.02:
        at = day_time(rng, t0, t1)
        act.session(w, rng, person, at)
        act.update_contact(
            w, person, at + rng.uniform(1, 5) * MINUTE, email=roll() < 0.6, phone=roll() < 0.6
        )
    if roll() < 0.01 and person.cards:  # lost card: blocked, a new one issued
        at = day_time(rng, t0, t1 - DAY)
        lost = person.cards[0]
        w.sink.update("cards", lost, to_dt(at), status="blocked")
        w.card_window[lost] = (float("-inf"), at)
        issued = at + rng.uniform(0.5, 2) * DAY
        replacement = w.new_card(person, w.card_account[lost], issued)
        w.card_window[replacement] = (issued, float("inf"))
    if roll() < 0.01 and len(person.accounts) > 1:  # closes a secondary account
        at = day_time(rng, t0, t1)
        account = person.accounts[-1]
        if not any(w.card_account.get(card) == account for card in person.cards):
            person.accounts.remove(account)  # dormant: nothing moves through it any more
            when = to_dt(at)
            w.sink.update("accounts", account, when, status="closed", updated_at=when)
    if roll() < 0.002:  # compliance freezes an account pending documents (late: no spending after)
        at = t1 - rng.uniform(0, 0.5) * DAY
        when = to_dt(at)
        w.sink.update("accounts", person.checking, when, status="frozen", updated_at=when)


def plan_departure(w: World, rng: random.Random, person: Person, t0: float, t1: float) -> None:
    """Some customers leave: activity stops, accounts close, logins are later erased."""
    if person.business or rng.random() > 0.003 or t1 - t0 < 3 * DAY:
        return
    leave = rng.uniform(t0 + DAY, t1 - DAY)
    person.active_until = leave
    when = to_dt(leave)
    for account in person.accounts:
        w.sink.update("accounts", account, when, status="closed", updated_at=when)
    for card in person.cards:
        w.sink.update("cards", card, when, status="blocked")
    person.cards = []
    erase = leave + rng.uniform(0.5, 5) * DAY
    if erase < t1:
        w.sink.erase_logins(person.customer_id, to_dt(erase))
