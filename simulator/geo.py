"""Countries, cities, currencies, IP ranges and IBANs: the geography of the bank.

Customers live in six European countries; a few distant cities exist for travel and
for cloned cards used far away. Coordinates are city centres (WGS 84).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    country: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    currency: str
    cities: tuple[City, ...]
    # /16 prefixes of residential ISPs: a household's home IP comes from one.
    isp_prefixes: tuple[str, ...]
    # BBAN of our own accounts: a 4-letter bank code then `bban_digits` digits, or
    # (no letters) `bban_digits` digits in all, the first four being the bank code.
    bank_code: str
    bban_digits: int


def _cities(country: str, *rows: tuple[str, float, float]) -> tuple[City, ...]:
    return tuple(City(name, country, lat, lon) for name, lat, lon in rows)


COUNTRIES: dict[str, Country] = {
    "GB": Country(
        "GB",
        "en_GB",
        "GBP",
        _cities(
            "GB",
            ("London", 51.5074, -0.1278),
            ("Manchester", 53.4808, -2.2426),
            ("Birmingham", 52.4862, -1.8904),
            ("Glasgow", 55.8642, -4.2518),
            ("Leeds", 53.8008, -1.5491),
            ("Bristol", 51.4545, -2.5879),
        ),
        ("81.102", "86.150", "2.96", "92.40"),
        "FGBK",
        14,
    ),
    "DE": Country(
        "DE",
        "de_DE",
        "EUR",
        _cities(
            "DE",
            ("Berlin", 52.5200, 13.4050),
            ("Hamburg", 53.5511, 9.9937),
            ("München", 48.1351, 11.5820),
            ("Köln", 50.9375, 6.9603),
            ("Frankfurt am Main", 50.1109, 8.6821),
            ("Stuttgart", 48.7758, 9.1829),
        ),
        ("84.128", "91.64", "79.192", "93.104"),
        "",
        18,
    ),
    "FR": Country(
        "FR",
        "fr_FR",
        "EUR",
        _cities(
            "FR",
            ("Paris", 48.8566, 2.3522),
            ("Marseille", 43.2965, 5.3698),
            ("Lyon", 45.7640, 4.8357),
            ("Toulouse", 43.6047, 1.4442),
            ("Nice", 43.7102, 7.2620),
            ("Lille", 50.6292, 3.0573),
        ),
        ("90.0", "82.64", "176.128", "86.200"),
        "",
        23,
    ),
    "NL": Country(
        "NL",
        "nl_NL",
        "EUR",
        _cities(
            "NL",
            ("Amsterdam", 52.3676, 4.9041),
            ("Rotterdam", 51.9244, 4.4777),
            ("Den Haag", 52.0705, 4.3007),
            ("Utrecht", 52.0907, 5.1214),
            ("Eindhoven", 51.4416, 5.4697),
        ),
        ("84.104", "145.128", "77.160", "94.208"),
        "FGBK",
        10,
    ),
    "ES": Country(
        "ES",
        "es_ES",
        "EUR",
        _cities(
            "ES",
            ("Madrid", 40.4168, -3.7038),
            ("Barcelona", 41.3874, 2.1686),
            ("Valencia", 39.4699, -0.3763),
            ("Sevilla", 37.3891, -5.9845),
            ("Bilbao", 43.2630, -2.9350),
            ("Málaga", 36.7213, -4.4214),
        ),
        ("88.0", "83.32", "79.144", "95.16"),
        "",
        20,
    ),
    "PL": Country(
        "PL",
        "pl_PL",
        "PLN",
        _cities(
            "PL",
            ("Warszawa", 52.2297, 21.0122),
            ("Kraków", 50.0647, 19.9450),
            ("Wrocław", 51.1079, 17.0385),
            ("Gdańsk", 54.3520, 18.6466),
            ("Poznań", 52.4064, 16.9252),
            ("Łódź", 51.7592, 19.4560),
        ),
        ("83.0", "89.64", "178.36", "31.60"),
        "",
        24,
    ),
}

# Share of customers per country.
COUNTRY_WEIGHTS: dict[str, float] = {
    "GB": 0.24,
    "DE": 0.22,
    "FR": 0.18,
    "NL": 0.12,
    "ES": 0.14,
    "PL": 0.10,
}

# Distant cities: destinations of long trips and of cloned cards.
FAR_CITIES: tuple[City, ...] = (
    City("New York", "US", 40.7128, -74.0060),
    City("Dubai", "AE", 25.2048, 55.2708),
    City("Bangkok", "TH", 13.7563, 100.5018),
    City("Lagos", "NG", 6.5244, 3.3792),
    City("São Paulo", "BR", -23.5505, -46.6333),
)
FAR_CURRENCIES: dict[str, str] = {"US": "USD", "AE": "AED", "TH": "THB", "NG": "NGN", "BR": "BRL"}


def currency_of(country: str) -> str:
    home = COUNTRIES.get(country)
    return home.currency if home else FAR_CURRENCIES.get(country, "USD")


def all_cities() -> tuple[City, ...]:
    return tuple(city for country in COUNTRIES.values() for city in country.cities) + FAR_CITIES


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def iban(country: str, bban: str) -> str:
    """An IBAN with valid ISO 13616 check digits."""
    rearranged = bban + country + "00"
    digits = "".join(str(int(char, 36)) for char in rearranged)
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def _bban(country: Country, bank_code: str, number: int) -> str:
    if country.bank_code:  # letters of the bank code, then `bban_digits` digits
        width = country.bban_digits
        return bank_code + str(number % 10**width).zfill(width)
    width = country.bban_digits - 4  # all digits: a 4-digit bank code first
    return ("1000" if bank_code == country.bank_code else "2000") + str(number % 10**width).zfill(
        width
    )


def own_iban(country: Country, account_id: int) -> str:
    """The IBAN of one of our accounts: unique because it embeds the account id."""
    return iban(country.code, _bban(country, country.bank_code, account_id))


def external_iban(country: Country, number: int) -> str:
    """An IBAN at another bank: its bank code is never ours."""
    other = "OTHR" if country.bank_code else "other"
    return iban(country.code, _bban(country, other, number))
