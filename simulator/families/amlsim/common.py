"""What the AMLSim-family typologies share: per-case parameters drawn from wide
ranges, ordinary (never round) amounts, AMLSim's schedules, members and payments.

AMLSim / AMLGentex describe a pattern by its accounts (a range), its period (a
range of days) and a schedule: fixed interval, random intervals in order,
unordered, or simultaneous. Amounts follow the bank's ordinary transfers, and
each intermediary keeps a margin. Nothing here is copied from the classic
typologies' constants: ranges are wide on purpose so no threshold fits them all.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import FX_PER_EUR
from fraudgraph.simulator.rows import Transaction
from fraudgraph.simulator.typologies.base import Case, pick_country, recruit
from fraudgraph.simulator.world import DAY, HOUR, Person, World

MIN_DAYS, MAX_DAYS = 1.0, 30.0
MIN_ACCOUNTS, MAX_ACCOUNTS = 3, 15
SCHEDULES = ("fixed", "random", "unordered", "simultaneous")


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


def case_window(
    rng: random.Random,
    start: float,
    end: float,
    *,
    low_days: float = MIN_DAYS,
    high_days: float = MAX_DAYS,
) -> Window:
    """A duration drawn per case, placed at random inside [start, end) (clipped to it)."""
    room = max(60.0, end - start - 60)
    length = min(rng.uniform(low_days, high_days) * DAY, room)
    at = start + rng.uniform(0, room - length)
    return Window(at, at + length)


def accounts_in_case(rng: random.Random, size: int, minimum: int = MIN_ACCOUNTS) -> int:
    """Accounts in a case: uniform over size ± 6 (default 9 -> 3..15), never under the
    minimum, never over 15 unless a larger size was asked for (--fraud NAME=N:SIZE)."""
    low = max(minimum, size - 6)
    return rng.randint(low, max(low, min(size + 6, max(MAX_ACCOUNTS, size))))


def not_round(rng: random.Random, cents: int) -> int:
    """An ordinary-looking amount: never a whole multiple of 10 currency units."""
    cents = max(101, cents)
    if cents % 1000 == 0:
        cents += rng.randint(1, 999)
    return cents


class Amounts:
    """One case's amount distribution, like ordinary transfers: a log-normal whose
    median (tens to about a thousand EUR) and spread are drawn per case."""

    def __init__(
        self, rng: random.Random, currency: str, low_eur: float = 60, high_eur: float = 950
    ) -> None:
        self.median = rng.uniform(low_eur, high_eur) * FX_PER_EUR.get(currency, 1.0)
        self.sigma = rng.uniform(0.1, 0.7)

    def draw(self, rng: random.Random) -> int:
        value = math.exp(rng.gauss(math.log(self.median), self.sigma))
        return not_round(rng, round(value * 100))


def schedule(rng: random.Random, window: Window, n: int, kind: str) -> list[float]:
    """n event times inside the window by one of AMLSim's schedules (sorted)."""
    if n <= 0:
        return []
    length = window.length
    if kind == "fixed":
        step = length / n
        times = [window.start + (i + rng.uniform(0.2, 0.8)) * step for i in range(n)]
    elif kind == "simultaneous":  # "at the same step": within one day, minutes apart
        day = min(length, DAY)
        at = window.start + rng.uniform(0, length - day)
        times = [at + rng.uniform(0, day) for _ in range(n)]
    else:  # random intervals in order / unordered: the same times, order is the caller's
        times = [window.start + rng.uniform(0, length) for _ in range(n)]
    return sorted(awake(rng, t, window) for t in times)


def awake(rng: random.Random, at: float, window: Window) -> float:
    """Customers pay while awake: a time before 07:00 moves into the day (if it fits)."""
    hour = (at % DAY) / HOUR
    if hour >= 7:
        return at
    moved = at + rng.uniform(7 - hour, 22 - hour) * HOUR
    return moved if moved < window.end else at


def phases(rng: random.Random, window: Window, count: int) -> list[Window]:
    """Split a window into `count` consecutive sub-windows of random lengths: a layer
    of a stack or scatter-gather moves money only after the layer before it."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
    total = sum(weights)
    windows, at = [], window.start
    for weight in weights:
        length = window.length * weight / total
        windows.append(Window(at, at + length))
        at += length
    return windows


def split(rng: random.Random, cents: int, parts: int) -> list[int]:
    """Split an amount into `parts` uneven, non-round pieces (roughly summing to it)."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    total = sum(weights)
    return [not_round(rng, round(cents * w / total)) for w in weights]


def members(w: World, rng: random.Random, count: int) -> list[Person]:
    """`count` ordinary customers of one currency (accounts that already have a history)."""
    currency = pick_country(rng).currency
    return recruit(w, rng, count, where=lambda p: p.currency == currency)


@dataclass(frozen=True)
class Style:
    """How one case pays: channel and AMLSim schedule, drawn per case."""

    channel: str
    schedule: str
    margin: tuple[float, float]  # what each intermediary keeps, as a share


def style(rng: random.Random) -> Style:
    low = rng.uniform(0.0, 0.06)
    return Style(
        rng.choice(("transfer", "transfer", "p2p")),
        rng.choice(SCHEDULES),
        (low, low + rng.uniform(0.0, 0.06)),
    )


def pay(
    w: World,
    rng: random.Random,
    case: Case,
    payer: Person,
    payee: Person,
    *,
    at: float,
    cents: int,
    role: str,
    channel: str,
) -> Transaction:
    """A transfer from the payer's own session (own device and IP, as customers do)."""
    row = act.transfer(w, rng, payer, at, cents, to_account=payee.checking, channel=channel)
    case.txn(row, role)
    return row


def keep_margin(rng: random.Random, cents: int, margin: tuple[float, float]) -> int:
    return not_round(rng, round(cents * (1 - rng.uniform(*margin))))
