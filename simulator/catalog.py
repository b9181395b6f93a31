"""Merchant categories and how people spend in them; exchange rates for amounts.

Amounts are drawn log-normally around a median in euros, then converted to the
currency of the payment so that a Polish grocery bill looks like one in złoty.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True)
class Category:
    name: str
    mcc: str
    weight: float  # share of everyday card payments
    median_eur: float
    sigma: float
    online_share: float  # share of payments card-not-present
    suffixes: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", "5411", 30, 32, 0.7, 0.05, ("Market", "Foods", "Grocers", "Supermarket")),
    Category(
        "restaurant", "5812", 11, 30, 0.6, 0.0, ("Bistro", "Kitchen", "Brasserie", "Trattoria")
    ),
    Category("fast_food", "5814", 12, 10, 0.5, 0.15, ("Burgers", "Bakery", "Coffee", "Kebab")),
    Category("fuel", "5541", 7, 55, 0.4, 0.0, ("Fuel", "Petrol", "Energy")),
    Category("pharmacy", "5912", 5, 16, 0.6, 0.1, ("Pharmacy", "Apotheke", "Chemist")),
    Category("department", "5311", 4, 55, 0.8, 0.2, ("Department Store", "Warehouse")),
    Category("clothing", "5651", 6, 50, 0.7, 0.45, ("Fashion", "Outfitters", "Wear")),
    Category("electronics", "5732", 2, 110, 1.0, 0.55, ("Electronics", "Tech", "Digital")),
    Category("transit", "4111", 8, 3.2, 0.5, 0.2, ("Transit", "Rail", "Metro")),
    Category("taxi", "4121", 4, 15, 0.5, 0.9, ("Cabs", "Rides", "Taxi")),
    Category("digital", "5815", 6, 4, 0.8, 1.0, ("Games", "Apps", "Streaming", "Music")),
    Category("marketplace", "5969", 8, 30, 0.9, 1.0, ("Shop", "Direct", "Online")),
    # Not everyday spending: travel and bills are scheduled explicitly.
    Category("hotel", "7011", 0, 120, 0.5, 0.0, ("Hotel", "Inn", "Suites")),
    Category("airline", "4511", 0, 180, 0.6, 1.0, ("Airways", "Air", "Airlines")),
    Category("telecom", "4814", 0, 35, 0.3, 1.0, ("Mobile", "Telecom", "Broadband")),
    Category("utilities", "4900", 0, 80, 0.4, 1.0, ("Energy", "Power", "Water")),
)
BY_NAME: dict[str, Category] = {category.name: category for category in CATEGORIES}
EVERYDAY: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.weight > 0)
EVERYDAY_WEIGHTS: tuple[float, ...] = tuple(c.weight for c in EVERYDAY)
_EVERYDAY_CUMULATIVE: tuple[float, ...] = tuple(accumulate(EVERYDAY_WEIGHTS))


def everyday_category(rng: random.Random) -> Category:
    """A category weighted by everyday spending (bisect: this runs per payment)."""
    return EVERYDAY[bisect(_EVERYDAY_CUMULATIVE, rng.random() * _EVERYDAY_CUMULATIVE[-1])]


# Units of each currency per euro (rounded; the simulator needs shapes, not markets).
FX_PER_EUR: dict[str, float] = {
    "EUR": 1.0,
    "GBP": 0.85,
    "PLN": 4.3,
    "USD": 1.08,
    "AED": 4.0,
    "THB": 38.0,
    "NGN": 1600.0,
    "BRL": 5.8,
}


def lognormal_cents(rng: random.Random, median_eur: float, sigma: float, currency: str) -> int:
    value = math.exp(rng.gauss(math.log(median_eur), sigma)) * FX_PER_EUR.get(currency, 1.0)
    return max(1, round(value * 100))


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw without numpy: Knuth below 30, a rounded normal above."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit = math.exp(-lam)
        count, product = 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


# Hour-of-day weights for everyday activity (local and UTC are close enough here).
HOUR_WEIGHTS: tuple[float, ...] = (
    0.2,
    0.1,
    0.05,
    0.05,
    0.05,
    0.2,
    0.6,
    1.5,
    2.5,
    2.5,
    2.6,
    3.0,
    4.0,
    3.6,
    2.8,
    2.6,
    2.9,
    3.6,
    4.0,
    3.4,
    2.6,
    1.8,
    1.0,
    0.5,
)
_HOUR_CUMULATIVE: tuple[float, ...] = tuple(accumulate(HOUR_WEIGHTS))


def daytime(rng: random.Random, t0: float, t1: float) -> float:
    """A time in [t0, t1) on a random day, at an hour weighted like everyday life."""
    span_days = max(1, int((t1 - t0) // 86_400))
    for _ in range(8):
        day_start = t0 - (t0 % 86_400) + 86_400 * rng.randrange(span_days + 1)
        hour = bisect(_HOUR_CUMULATIVE, rng.random() * _HOUR_CUMULATIVE[-1])
        at = day_start + hour * 3600 + rng.random() * 3600
        if t0 <= at < t1:
            return at
    return t0 + rng.random() * (t1 - t0)
