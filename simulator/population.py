"""The bank's customers and merchants before the simulated window opens.

Households share a surname, an address and a home IP and sometimes a tablet;
employees of one business log in from its office IP; mobile users share carrier
CGNAT addresses. These are the legitimate look-alikes of shared-identifier fraud.
"""

from __future__ import annotations

import random

from fraudgraph.simulator.catalog import BY_NAME, CATEGORIES, EVERYDAY, lognormal_cents
from fraudgraph.simulator.geo import COUNTRIES, COUNTRY_WEIGHTS, FAR_CITIES, City, Country
from fraudgraph.simulator.identities import customer_row
from fraudgraph.simulator.rows import Customer
from fraudgraph.simulator.world import DAY, Person, World, to_dt

HOUSEHOLD_SIZES = (1, 2, 3, 4)
HOUSEHOLD_WEIGHTS = (0.62, 0.25, 0.09, 0.04)
CITY_WEIGHTS = (3.0, 2.0, 1.5, 1.0, 1.0, 1.0)
CGNAT_POOL = 150  # mobile carrier addresses per country, shared by many customers
ONLINE_COUNTRIES = ("IE", "LU", "US")


def build_population(world: World, rng: random.Random, customers: int) -> None:
    """Merchants, businesses and households: `customers` customers in all."""
    countries = sorted(COUNTRIES)
    country_weights = [COUNTRY_WEIGHTS[c] for c in countries]
    _build_merchants(world, rng, customers)
    cgnat = {
        code: [
            f"100.{64 + i}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(CGNAT_POOL)
        ]
        for i, code in enumerate(countries)
    }
    business_count = max(2, customers // 50)
    for _ in range(business_count):
        country = COUNTRIES[rng.choices(countries, country_weights)[0]]
        _new_business(world, rng, country, _pick_city(rng, country))
    individuals = customers - business_count
    while individuals > 0:
        size = min(individuals, rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0])
        country = COUNTRIES[rng.choices(countries, country_weights)[0]]
        _new_household(
            world, rng, country, _pick_city(rng, country), size=size, cgnat=cgnat[country.code]
        )
        individuals -= size
    _employ(world, rng)
    _befriend(world, rng)


def _pick_city(rng: random.Random, country: Country) -> City:
    return rng.choices(country.cities, CITY_WEIGHTS[: len(country.cities)])[0]


def _build_merchants(world: World, rng: random.Random, customers: int) -> None:
    total = max(300, customers // 8)
    countries = sorted(COUNTRIES)
    local = int(total * 0.7)
    online = int(total * 0.25)
    # Local shops: every city gets each everyday category at least once, then by weight.
    for code in countries:
        country = COUNTRIES[code]
        for city in country.cities:
            for category in (*EVERYDAY, BY_NAME["hotel"]):
                if category.online_share < 1.0:
                    _merchant(world, rng, category.name, country.code, city)
    placed = len(world.merchants)
    local_categories = [c for c in EVERYDAY if c.online_share < 1.0]
    for _ in range(max(0, local - placed)):
        code = rng.choices(countries, [COUNTRY_WEIGHTS[c] for c in countries])[0]
        city = _pick_city(rng, COUNTRIES[code])
        category = rng.choices(local_categories, [c.weight for c in local_categories])[0]
        _merchant(world, rng, category.name, code, city)
    online_categories = [c for c in CATEGORIES if c.online_share > 0]
    for code in countries:  # bills and flights are bought online at home
        for name in ("telecom", "utilities", "airline", "digital", "marketplace", "electronics"):
            _merchant(world, rng, name, code, None)
    for _ in range(online):
        code = rng.choices([*countries, *ONLINE_COUNTRIES], [*(1.0 for _ in countries), 2, 1, 2])[0]
        category = rng.choices(
            online_categories, [max(c.weight, 1) * c.online_share for c in online_categories]
        )[0]
        _merchant(world, rng, category.name, code, None)
    for city in FAR_CITIES:  # destinations of trips and of cloned cards
        for name in ("restaurant", "hotel", "electronics", "department", "grocery", "clothing"):
            _merchant(world, rng, name, city.country, city)


def _merchant(
    world: World, rng: random.Random, category: str, country: str, city: City | None
) -> None:
    info = BY_NAME[category]
    faker_country = country if country in COUNTRIES else "GB"
    stem = world.identities.faker(faker_country).last_name()
    world.new_merchant(f"{stem} {rng.choice(info.suffixes)}", category, info.mcc, country, city)


def _new_business(world: World, rng: random.Random, country: Country, city: City) -> Person:
    ids = world.identities
    created = world.start - rng.uniform(400, 20 * 365) * DAY
    name = ids.company(country.code)
    street, postcode = ids.address(country.code)
    customer_id = world.ids.next("customers")
    when = to_dt(created)
    row = Customer(
        customer_id,
        name,
        ids.company_email(country.code, name),
        ids.phone(country.code),
        None,
        None,
        street,
        city.name,
        postcode,
        country.code,
        when,
        when,
    )
    person = Person(
        customer_id, country, city, created, business=True, spend_rate=0.3, login_rate=1.5
    )
    person.office_ip = world.unique_ip(rng.choice(country.isp_prefixes))
    person.home_ip = person.office_ip
    person.mobile_ip = person.office_ip
    world.add_customer(row, person)
    world.new_account(person, "checking", created + DAY)
    if rng.random() < 0.5:
        world.new_account(person, "savings", created + rng.uniform(2, 300) * DAY)
    world.new_card(person, person.checking, created + 2 * DAY)
    for _ in range(rng.randint(1, 2)):
        first_seen = min(world.start - DAY, created + rng.uniform(1, 900) * DAY)
        person.devices.append(world.new_device(rng, first_seen, "windows"))
    return person


def _new_household(
    world: World, rng: random.Random, country: Country, city: City, *, size: int, cgnat: list[str]
) -> None:
    ids = world.identities
    address = ids.address(country.code)
    surname = ids.faker(country.code).last_name()
    home_ip = world.unique_ip(rng.choice(country.isp_prefixes))
    members: list[Person] = []
    shared_tablet: int | None = None
    for index in range(size):
        born = world.date_of_birth(rng, 18, 85 if index < 2 else 30)  # adults, then grown children
        family_name = surname if (index == 0 or rng.random() < 0.8) else None
        identity = ids.person(country.code, city, born, last_name=family_name, address=address)
        created = world.start - rng.uniform(30, 12 * 365) * DAY
        customer_id = world.ids.next("customers")
        when = to_dt(created)
        row = customer_row(identity, customer_id, born, country.code, when)
        person = Person(
            customer_id,
            country,
            city,
            created,
            given_name=identity.first_name,
            family_name=identity.last_name,
            home_ip=home_ip,
            mobile_ip=rng.choice(cgnat),
            spend_rate=min(6.0, rng.lognormvariate(0.3, 0.5)),
            login_rate=rng.uniform(0.4, 1.6),
        )
        world.add_customer(row, person)
        _open_products(world, rng, person)
        members.append(person)
        if size > 1 and index == 0 and rng.random() < 0.4:
            shared_tablet = world.new_device(
                rng, world.start - rng.uniform(10, 700) * DAY, "android"
            )
        if shared_tablet is not None:
            person.devices.append(shared_tablet)
    household = [m.customer_id for m in members]
    for member in members:
        world.household_of[member.customer_id] = household
        if len(members) > 1:
            member.circle.extend(c for c in household if c != member.customer_id)
        if rng.random() < 0.55:
            member.rent_iban = world.external_iban(country.code)
            member.rent_cents = lognormal_cents(rng, 850, 0.35, country.currency)


def _open_products(world: World, rng: random.Random, person: Person) -> None:
    created = person.created
    opened = created + rng.uniform(0, 2) * DAY
    checking = world.new_account(person, "checking", opened)
    if rng.random() < 0.03:  # an expired card and its replacement
        world.new_card(person, checking, opened + DAY, status="expired")
        world.new_card(
            person, checking, max(opened + 2 * DAY, world.start - rng.uniform(10, 300) * DAY)
        )
    else:
        world.new_card(person, checking, opened + rng.uniform(1, 5) * DAY)
    if rng.random() < 0.45:
        world.new_account(person, "savings", created + rng.uniform(1, 30) * DAY)
    if rng.random() < 0.25:
        credit_opened = created + rng.uniform(1, 30) * DAY
        credit = world.new_account(person, "credit", credit_opened)
        world.new_card(person, credit, credit_opened + rng.uniform(1, 5) * DAY)
    if rng.random() < 0.06:
        world.new_account(person, "wallet", created + rng.uniform(1, 30) * DAY)
    phone_seen = max(created, world.start - rng.uniform(5, 900) * DAY)
    person.devices.append(world.new_device(rng, phone_seen, rng.choice(("ios", "android"))))
    if rng.random() < 0.5:
        laptop_seen = max(created, world.start - rng.uniform(5, 1500) * DAY)
        person.devices.append(
            world.new_device(rng, laptop_seen, rng.choice(("windows", "macos", "linux")))
        )


def _employ(world: World, rng: random.Random) -> None:
    by_country: dict[str, list[Person]] = {}
    for business in world.businesses:
        by_country.setdefault(business.country.code, []).append(business)
    for employer in world.businesses:
        employer.payday = rng.randint(24, 28)
    for person in world.individuals:
        employers = by_country.get(person.country.code)
        if not employers or rng.random() > 0.72:
            continue
        # Zipf-like: a few large employers, many small ones.
        employer = employers[min(len(employers) - 1, int(rng.paretovariate(1.2)) - 1)]
        person.employer_account = employer.checking
        person.payday = employer.payday
        person.salary_cents = lognormal_cents(rng, 2600, 0.4, person.currency)
        if rng.random() < 0.6:
            person.office_ip = employer.office_ip


def _befriend(world: World, rng: random.Random) -> None:
    by_city: dict[str, list[Person]] = {}
    for person in world.individuals:
        by_city.setdefault(person.city.name, []).append(person)
    for person in world.individuals:
        neighbours = by_city[person.city.name]
        for _ in range(rng.randint(2, 6)):
            friend = rng.choice(neighbours)
            if friend is not person and friend.customer_id not in person.circle:
                person.circle.append(friend.customer_id)
                friend.circle.append(person.customer_id)
