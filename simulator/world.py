"""The simulated bank's own view of its population, and helpers that create rows.

What the generator knows but the database does not (home city, home IP, employer,
social circle, who is already part of a fraud case) lives here. Every entity row is
created through `World` so ids, tokens and IBANs stay unique and deterministic.
"""

# ruff: noqa: S311 - a simulation: seeded, reproducible randomness is the point, not secrecy

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from fraudgraph.simulator.geo import COUNTRIES, City, Country, currency_of, external_iban, own_iban
from fraudgraph.simulator.identities import IdentityFactory
from fraudgraph.simulator.ids import IdAllocator, mix64, token
from fraudgraph.simulator.rows import Account, Card, Customer, Device, Login, Merchant, Transaction
from fraudgraph.simulator.sink import Sink

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0

PLATFORMS: tuple[tuple[str, str], ...] = (
    (
        "ios",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "FraudgraphBank/4.{v}",
    ),
    (
        "android",
        "Mozilla/5.0 (Linux; Android 14; SM-S91{v}B) AppleWebKit/537.36 Chrome/126.0 Mobile",
    ),
    (
        "windows",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/12{v}.0 Safari/537.36",
    ),
    (
        "macos",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_{v}) AppleWebKit/605.1.15 Safari/605.1.15",
    ),
    ("linux", "Mozilla/5.0 (X11; Linux x86_64; rv:12{v}.0) Gecko/20100101 Firefox/12{v}.0"),
)
PLATFORM_WEIGHTS = (0.34, 0.36, 0.16, 0.11, 0.03)


@dataclass(frozen=True)
class MerchantInfo:
    merchant_id: int
    category: str
    mcc: str
    country: str
    city: City | None  # None: online only


@dataclass
class Person:
    """A customer as the simulator sees them (the row is in the sink)."""

    customer_id: int
    country: Country
    city: City
    created: float
    business: bool = False
    given_name: str = ""
    family_name: str = ""
    home_ip: str = ""
    mobile_ip: str = ""
    office_ip: str | None = None
    devices: list[int] = field(default_factory=list)
    accounts: list[int] = field(default_factory=list)  # checking first
    cards: list[int] = field(default_factory=list)
    employer_account: int | None = None
    payday: int = 25
    salary_cents: int = 0
    rent_iban: str | None = None
    rent_cents: int = 0
    circle: list[int] = field(default_factory=list)
    spend_rate: float = 1.5  # card payments per day
    login_rate: float = 0.8
    active_until: float = float("inf")
    fraud: bool = False  # created by or recruited into a fraud case
    ready: float = float("-inf")  # from when all accounts and cards exist

    @property
    def checking(self) -> int:
        return self.accounts[0]

    @property
    def currency(self) -> str:
        return self.country.currency


@dataclass(frozen=True)
class AccountInfo:
    account_id: int
    customer_id: int
    kind: str
    currency: str
    country: str


def to_dt(ts: float) -> datetime:
    """Event time (epoch seconds) to an aware UTC datetime, whole seconds."""
    return datetime.fromtimestamp(int(ts), UTC)


def money(cents: int) -> Decimal:
    return Decimal(max(1, cents)).scaleb(-2)


class World:
    """Population, merchants and row factories shared by normal life and the typologies."""

    def __init__(
        self,
        *,
        seed: int,
        start: float,
        end: float,
        sink: Sink,
        ids: IdAllocator | None = None,
        identities: IdentityFactory | None = None,
    ) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.sink = sink
        self.ids = ids or IdAllocator()
        self.identities = identities or IdentityFactory(seed)
        self.persons: dict[int, Person] = {}
        self.individuals: list[Person] = []
        self.businesses: list[Person] = []
        self.accounts: dict[int, AccountInfo] = {}
        self.card_account: dict[int, int] = {}
        # Cards usable only in [from, until): a lost card and its replacement.
        self.card_window: dict[int, tuple[float, float]] = {}
        self.merchants: list[MerchantInfo] = []
        # (city name, category) -> merchants there; (country, category) -> online merchants
        self.local_merchants: dict[tuple[str, str], list[MerchantInfo]] = {}
        self.online_merchants: dict[tuple[str, str], list[MerchantInfo]] = {}
        self.household_of: dict[int, list[int]] = {}
        self._ext_iban_rng = random.Random(f"external-iban:{seed}")
        self._ip_rng = random.Random(f"ips:{seed}")
        self._used_ips: set[str] = set()
        self._phones_used = 0

    # -- entities -----------------------------------------------------------------

    def add_customer(self, row: Customer, person: Person) -> None:
        self.sink.insert(row)
        self.persons[row.customer_id] = person
        (self.businesses if person.business else self.individuals).append(person)

    def new_account(self, person: Person, kind: str, at: float) -> int:
        account_id = self.ids.next("accounts")
        currency = person.country.currency
        opened = to_dt(at)
        self.sink.insert(
            Account(
                account_id,
                person.customer_id,
                own_iban(person.country, account_id),
                kind,
                "open",
                currency,
                opened,
                opened,
            )
        )
        self.accounts[account_id] = AccountInfo(
            account_id, person.customer_id, kind, currency, person.country.code
        )
        person.accounts.append(account_id)
        return account_id

    def new_card(self, person: Person, account_id: int, at: float, status: str = "active") -> int:
        card_id = self.ids.next("cards")
        pan = f"tok_{token(1, card_id)}"
        last4 = f"{mix64(card_id ^ 0x5EED) % 10_000:04d}"
        self.sink.insert(Card(card_id, account_id, pan, last4, status, to_dt(at)))
        self.card_account[card_id] = account_id
        if status == "active":
            person.cards.append(card_id)
        return card_id

    def new_device(self, rng: random.Random, at: float, platform: str | None = None) -> int:
        device_id = self.ids.next("devices")
        if platform is None:
            index = rng.choices(range(len(PLATFORMS)), PLATFORM_WEIGHTS)[0]
        else:
            index = [name for name, _ in PLATFORMS].index(platform)
        name, agent = PLATFORMS[index]
        self.sink.insert(
            Device(
                device_id,
                token(2, device_id, parts=4),
                name,
                agent.format(v=rng.randint(0, 9)),
                to_dt(at),
            )
        )
        return device_id

    def new_merchant(
        self, name: str, category: str, mcc: str, country: str, city: City | None
    ) -> MerchantInfo:
        merchant_id = self.ids.next("merchants")
        self.sink.insert(Merchant(merchant_id, name, mcc, country))
        info = MerchantInfo(merchant_id, category, mcc, country, city)
        self.merchants.append(info)
        if city is None:
            self.online_merchants.setdefault((country, category), []).append(info)
        else:
            self.local_merchants.setdefault((city.name, category), []).append(info)
        return info

    # -- identifiers ----------------------------------------------------------------

    def unique_ip(self, prefix: str) -> str:
        """A new address under a /16 prefix ('81.102') or /8 ('100'), never handed out before."""
        for _ in range(1000):
            parts = prefix.split(".")
            while len(parts) < 4:
                parts.append(str(self._ip_rng.randint(1, 254)))
            ip = ".".join(parts)
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip
        raise RuntimeError(f"address space {prefix} exhausted")  # pragma: no cover

    def external_iban(self, country: str | None = None) -> str:
        code = country or self._ext_iban_rng.choice(sorted(COUNTRIES))
        return external_iban(COUNTRIES[code], self._ext_iban_rng.getrandbits(60))

    # -- events ---------------------------------------------------------------------

    def login(
        self, person: Person, at: float, device: int | None, ip: str, success: bool = True
    ) -> Login:
        row = Login(self.ids.next("logins"), person.customer_id, device, ip, success, to_dt(at))
        self.sink.insert(row)
        return row

    def txn(
        self,
        account_id: int,
        at: float,
        channel: str,
        cents: int,
        currency: str,
        *,
        counterparty_account: int | None = None,
        counterparty_iban: str | None = None,
        merchant: int | None = None,
        card: int | None = None,
        device: int | None = None,
        ip: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        status: str = "posted",
    ) -> Transaction:
        when = to_dt(at)
        row = Transaction(
            self.ids.next("transactions"),
            account_id,
            counterparty_account,
            counterparty_iban,
            merchant,
            card,
            device,
            ip,
            channel,
            money(cents),
            currency,
            lat,
            lon,
            status,
            when,
            when,
        )
        self.sink.insert(row)
        return row

    def usable_card(self, rng: random.Random, person: Person, at: float) -> int | None:
        """One of the person's cards that is valid at `at`, or None."""
        if not person.cards:
            return None
        card = rng.choice(person.cards)
        window = self.card_window.get(card)
        if window is None or window[0] <= at < window[1]:
            return card
        valid = [
            c for c in person.cards if (w := self.card_window.get(c)) is None or w[0] <= at < w[1]
        ]
        return rng.choice(valid) if valid else None

    def account_currency(self, account_id: int) -> str:
        return self.accounts[account_id].currency

    def merchant_currency(self, merchant: MerchantInfo) -> str:
        return currency_of(merchant.country)

    def date_of_birth(self, rng: random.Random, min_age: int = 18, max_age: int = 85) -> date:
        today = to_dt(self.start).date()
        days = rng.randint(min_age * 365 + 5, max_age * 365)
        return date.fromordinal(today.toordinal() - days)
