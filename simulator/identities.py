"""Country-consistent identities from Faker, one seeded Faker instance per locale.

Names, street addresses, postcodes, phones and national ids come from the locale of
the customer's country; the city is one of `geo`'s cities so that card payments can
be placed on a map. Values that must not collide by chance (phones, emails, national
ids) are re-drawn until unique: only the fraud typologies share them on purpose.
"""

# ruff: noqa: S311 - a simulation: seeded, reproducible randomness is the point, not secrecy

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from fraudgraph.extras import require
from fraudgraph.simulator.geo import COUNTRIES, City
from fraudgraph.simulator.rows import Customer

if TYPE_CHECKING:
    from faker import Faker

_ASCII_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "Ø": "O", "æ": "ae"})


@dataclass(frozen=True)
class Identity:
    full_name: str
    first_name: str
    last_name: str
    email: str
    phone: str
    national_id: str
    date_of_birth: date
    address_line: str
    city: str
    postal_code: str
    country: str


def ascii_slug(text: str) -> str:
    """'Łódź Müller' -> 'lodzmuller': the local part of an e-mail address."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


class IdentityFactory:
    """Identities for customers; deterministic for a seed, never touching global random."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"identities:{seed}")
        faker_class = require("faker", extra="simulator").Faker
        self._fakers: dict[str, Faker] = {}
        for code in sorted(COUNTRIES):
            fake = faker_class(COUNTRIES[code].locale)
            fake.seed_instance(self._rng.getrandbits(48))
            self._fakers[code] = fake
        self._used: set[str] = set()

    def faker(self, country: str) -> Faker:
        return self._fakers[country]

    def _unique(self, draw: Callable[[], object], key: str) -> str:
        for _ in range(50):
            value = str(draw())
            if f"{key}:{value}" not in self._used:
                self._used.add(f"{key}:{value}")
                return value
        raise RuntimeError(f"cannot draw a unique {key}")  # pragma: no cover - 50 collisions

    def national_id(self, country: str, born: date) -> str:
        fake = self._fakers[country]

        def draw() -> str:
            if country == "DE":  # Steuerliche Identifikationsnummer: 11 digits, no leading 0
                return str(fake.numerify("%##########"))
            if country == "ES":  # DNI and its check letter (Faker's nif() uses global random)
                number = fake.random_int(10_000_000, 99_999_999)
                return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"
            if country == "PL":
                return str(fake.pesel(date_of_birth=datetime(born.year, born.month, born.day)))
            return str(fake.ssn())  # GB National Insurance number, FR INSEE, NL BSN

        return self._unique(draw, "nid")

    def phone(self, country: str) -> str:
        return self._unique(self._fakers[country].phone_number, "phone")

    def email(self, country: str, first: str, last: str) -> str:
        fake = self._fakers[country]

        def draw() -> str:
            style = self._rng.random()
            local = f"{ascii_slug(first)}.{ascii_slug(last)}"
            if style < 0.3:
                local = f"{ascii_slug(first)[:1]}{ascii_slug(last)}"
            if style > 0.5:
                local += str(self._rng.randint(1, 999))
            return f"{local}@{fake.free_email_domain()}"

        return self._unique(draw, "email")

    def person(
        self,
        country: str,
        city: City,
        born: date,
        *,
        last_name: str | None = None,
        address: tuple[str, str] | None = None,
    ) -> Identity:
        """A new person; `last_name` and `address` let a household share them."""
        fake = self._fakers[country]
        first = fake.first_name()
        last = last_name or fake.last_name()
        street, postcode = address or (fake.street_address(), fake.postcode())
        return Identity(
            full_name=f"{first} {last}",
            first_name=first,
            last_name=last,
            email=self.email(country, first, last),
            phone=self.phone(country),
            national_id=self.national_id(country, born),
            date_of_birth=born,
            address_line=street,
            city=city.name,
            postal_code=postcode,
            country=country,
        )

    def address(self, country: str) -> tuple[str, str]:
        fake = self._fakers[country]
        return fake.street_address(), fake.postcode()

    def company(self, country: str) -> str:
        return str(self._fakers[country].company())

    def company_email(self, country: str, company: str) -> str:
        fake = self._fakers[country]
        domain = ascii_slug(company)[:18] or "firm"
        return self._unique(lambda: f"info@{domain}.{fake.tld()}", "email")


def customer_row(
    identity: Identity,
    customer_id: int,
    born: date,
    country_code: str,
    created: datetime,
    *,
    email: str | None = None,
    phone: str | None = None,
    national_id: str | None = None,
) -> Customer:
    """The customers row of a person; a fraudster may give reused identifiers instead."""
    return Customer(
        customer_id,
        identity.full_name,
        email or identity.email,
        phone or identity.phone,
        national_id or identity.national_id,
        born,
        identity.address_line,
        identity.city,
        identity.postal_code,
        country_code,
        created,
        created,
    )
