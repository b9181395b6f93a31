"""What every typology uses: the case being built, recruiting people, fraud identifiers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fraudgraph.simulator.geo import COUNTRIES, Country
from fraudgraph.simulator.identities import customer_row
from fraudgraph.simulator.labels import FRAUD, Label
from fraudgraph.simulator.rows import Transaction
from fraudgraph.simulator.world import Person, World, to_dt

# Hosting, VPN and anonymiser ranges: where attackers come from.
ATTACKER_PREFIXES = ("185.220", "45.134", "193.176", "91.219", "5.188", "194.26")


@dataclass(frozen=True)
class Reveal:
    """A fraud report the bank's case tools may later write about this case."""

    kind: str  # confirmed_fraud | chargeback
    customer_id: int | None = None
    account_id: int | None = None
    txn_id: int | None = None


@dataclass
class Seen:
    role: str
    first: float
    last: float


@dataclass
class Case:
    typology: str
    case_id: str
    index: int
    kind: str = FRAUD  # or LOOKALIKE: an honest pattern labelled so scoring can count flags
    entities: dict[tuple[str, str], Seen] = field(default_factory=dict)
    reveals: list[Reveal] = field(default_factory=list)

    def touch(self, entity_type: str, entity_id: object, role: str, at: float) -> None:
        """Record that the entity took part at `at` (the first role given sticks)."""
        key = (entity_type, str(entity_id))
        seen = self.entities.get(key)
        if seen is None:
            self.entities[key] = Seen(role, at, at)
        else:
            seen.first = min(at, seen.first)
            seen.last = max(at, seen.last)

    def person(self, person: Person, role: str, at: float, *, account: bool = True) -> None:
        self.touch("customer", person.customer_id, role, at)
        if account:
            self.touch("account", person.checking, f"{role}_account", at)

    def txn(self, row: Transaction, role: str, *, parties: bool = True) -> None:
        at = row.created_at.timestamp()
        self.touch("transaction", row.txn_id, role, at)
        if parties:
            self.touch("account", row.account_id, "payer", at)
            if row.counterparty_account_id is not None:
                self.touch("account", row.counterparty_account_id, "payee", at)

    @property
    def first(self) -> float:
        return min(seen.first for seen in self.entities.values())

    @property
    def last(self) -> float:
        return max(seen.last for seen in self.entities.values())

    def labels(self) -> list[Label]:
        ordered = sorted(self.entities.items(), key=lambda item: (item[0][0], _numeric(item[0][1])))
        return [
            Label(
                self.typology,
                self.case_id,
                kind,
                key,
                seen.role,
                to_dt(seen.first),
                to_dt(seen.last),
                self.kind,
            )
            for (kind, key), seen in ordered
        ]


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (0, text)


class Inject(Protocol):
    """A typology: emit one case's rows in [start, end) and record its entities."""

    def __call__(
        self, w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
    ) -> None: ...


def recruit(
    w: World,
    rng: random.Random,
    count: int,
    *,
    where: Callable[[Person], bool] | None = None,
) -> list[Person]:
    """`count` ordinary, active individuals not yet in any case; marked as involved."""
    chosen: list[Person] = []
    pool = w.individuals
    tries = 0
    while len(chosen) < count and tries < 200 * count + 1000:
        tries += 1
        person = pool[rng.randrange(len(pool))]
        if (
            person.fraud
            or person.active_until != float("inf")
            or not person.cards
            or person.created > w.start
            or (where is not None and not where(person))
        ):
            continue
        person.fraud = True
        chosen.append(person)
    return chosen


def attacker_ip(w: World, rng: random.Random) -> str:
    return w.unique_ip(rng.choice(ATTACKER_PREFIXES))


def pick_country(rng: random.Random, exclude_pln: bool = False) -> Country:
    codes = [c for c in sorted(COUNTRIES) if not (exclude_pln and COUNTRIES[c].currency == "PLN")]
    return COUNTRIES[rng.choice(codes)]


def new_fraud_person(
    w: World,
    rng: random.Random,
    country: Country,
    created: float,
    *,
    home_ip: str,
    devices: list[int],
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
    address: tuple[str, str] | None = None,
    credit: bool = False,
) -> Person:
    """A customer opened by a fraudster: Faker identity, some identifiers possibly shared."""
    ids = w.identities
    city = rng.choice(country.cities)
    born = w.date_of_birth(rng, 20, 50)
    identity = ids.person(country.code, city, born, address=address)
    customer_id = w.ids.next("customers")
    when = to_dt(created)
    row = customer_row(
        identity,
        customer_id,
        born,
        country.code,
        when,
        email=email,
        phone=phone,
        national_id=national_id,
    )
    person = Person(
        customer_id,
        country,
        city,
        created,
        given_name=identity.first_name,
        family_name=identity.last_name,
        home_ip=home_ip,
        mobile_ip=home_ip,
        devices=list(devices),
        spend_rate=rng.uniform(0.3, 1.0),
        login_rate=rng.uniform(0.3, 1.0),
        fraud=True,
    )
    w.add_customer(row, person)
    # Opened online within minutes: typologies may use the account soon after `created`.
    opened = created + rng.uniform(30, 300)
    checking = w.new_account(person, "checking", opened)
    w.new_card(person, checking, opened + rng.uniform(30, 300))
    if credit:
        credit_opened = opened + rng.uniform(30, 300)
        account = w.new_account(person, "credit", credit_opened)
        w.new_card(person, account, credit_opened + rng.uniform(30, 300))
    person.ready = created + 1200
    return person


def spread(
    rng: random.Random, t0: float, budget: float, *, low: float, high: float, n: int
) -> list[float]:
    """n increasing times after t0, gaps uniform in [low, high], squeezed into `budget`."""
    gaps = [rng.uniform(low, high) for _ in range(n)]
    total = sum(gaps)
    if total > budget > 0:
        gaps = [g * budget / total for g in gaps]
    times, at = [], t0
    for gap in gaps:
        at += max(gap, 1.0)
        times.append(at)
    return times
