"""Honest patterns shaped like laundering (AMLGentex's normal models), labelled with
kind "lookalike" so scoring can report how often they are flagged — never as fraud.

single: one payment between two people; fan_out: payroll from a business, or one
person paying several friends back; fan_in: tenants paying one landlord, or members
paying a club's treasurer; forward: money received and passed on (a collection for
a gift); mutual: a loan and its repayment; periodic: the same payment every few days.
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.catalog import FX_PER_EUR
from fraudgraph.simulator.families.amlsim.common import (
    Amounts,
    accounts_in_case,
    case_window,
    members,
    not_round,
    schedule,
)
from fraudgraph.simulator.typologies.base import Case, recruit
from fraudgraph.simulator.world import DAY, HOUR, Person, World

SPAN = 30 * DAY


def _pay(
    w: World,
    rng: random.Random,
    case: Case,
    payer: Person,
    payee_account: int,
    *,
    at: float,
    cents: int,
    role: str,
    channel: str = "transfer",
) -> None:
    row = act.transfer(w, rng, payer, at, cents, to_account=payee_account, channel=channel)
    case.txn(row, role)


def _amount(rng: random.Random, currency: str, low_eur: float, high_eur: float) -> int:
    """Honest amounts are round about half the time (rent, dues), otherwise not."""
    cents = round(rng.uniform(low_eur, high_eur) * FX_PER_EUR.get(currency, 1.0)) * 100
    return max(500, round(cents, -3)) if rng.random() < 0.5 else not_round(rng, cents)


def single(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    pair = members(w, rng, 2)
    if len(pair) < 2:
        return
    window = case_window(rng, start, end)
    amounts = Amounts(rng, pair[0].currency)
    for at in schedule(rng, window, rng.randint(1, 2), "random"):
        case.person(pair[0], "payer", at)
        case.person(pair[1], "payee", at)
        _pay(
            w, rng, case, pair[0], pair[1].checking, at=at, cents=amounts.draw(rng), role="payment"
        )


def fan_out(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    """Payroll (a business pays its staff on one day) or one person paying friends back."""
    payees = members(w, rng, accounts_in_case(rng, size) - 1)
    if len(payees) < 2:
        return
    currency = payees[0].currency
    employers = [b for b in w.businesses if b.currency == currency]
    window = case_window(rng, start, end)
    if employers and rng.random() < 0.6:
        employer = rng.choice(employers)
        payday = schedule(rng, window, 1, "random")[0]
        base = rng.uniform(1_400, 3_800)
        for payee in payees:
            at = payday + rng.uniform(0, 3 * HOUR)
            cents = not_round(rng, round(base * rng.uniform(0.7, 1.4) * FX_PER_EUR[currency] * 100))
            case.person(employer, "employer", at)
            case.person(payee, "employee", at)
            _pay(w, rng, case, employer, payee.checking, at=at, cents=cents, role="salary")
        return
    payer = recruit(w, rng, 1, where=lambda p: p.currency == currency)
    if not payer:
        return
    amounts = Amounts(rng, currency, 15, 400)
    for payee, at in zip(payees, schedule(rng, window, len(payees), "random"), strict=True):
        case.person(payer[0], "payer", at)
        case.person(payee, "friend", at)
        _pay(
            w,
            rng,
            case,
            payer[0],
            payee.checking,
            at=at,
            cents=amounts.draw(rng),
            role="payback",
            channel="p2p",
        )


def fan_in(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    """Tenants paying one landlord around the month's start, or members paying dues."""
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    collector, payers = group[0], group[1:]
    window = case_window(rng, start, end)
    rent = rng.random() < 0.5
    cents = _amount(rng, collector.currency, *((350, 1_400) if rent else (20, 160)))
    spread = rng.uniform(1, 5) * DAY if rent else window.length
    first = window.start + rng.uniform(0, max(0.0, window.length - spread))
    for payer in payers:
        at = first + rng.uniform(0, spread)
        case.person(collector, "landlord" if rent else "treasurer", at)
        case.person(payer, "tenant" if rent else "club_member", at)
        role = "rent" if rent else "dues"
        _pay(w, rng, case, payer, collector.checking, at=at, cents=cents, role=role)


def forward(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    """A receives from B and passes (about) it on to C: a collection, a shared bill."""
    trio = members(w, rng, 3)
    if len(trio) < 3:
        return
    source, middle, target = trio
    window = case_window(rng, start, end, low_days=0.2, high_days=6)
    first, second = schedule(rng, window, 2, "random")
    cents = Amounts(rng, source.currency, 30, 700).draw(rng)
    case.person(source, "sender", first)
    case.person(middle, "forwarder", first)
    _pay(w, rng, case, source, middle.checking, at=first, cents=cents, role="received")
    case.person(target, "recipient", second)
    passed = not_round(rng, round(cents * rng.uniform(0.8, 1.3)))
    _pay(w, rng, case, middle, target.checking, at=second, cents=passed, role="forwarded")


def mutual(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    """A lends to B; B pays it back (in one or a few parts) days later."""
    pair = members(w, rng, 2)
    if len(pair) < 2:
        return
    lender, borrower = pair
    window = case_window(rng, start, end, low_days=2)
    cents = _amount(rng, lender.currency, 50, 1_500)
    times = schedule(rng, window, 1 + rng.randint(1, 3), "random")
    case.person(lender, "lender", times[0])
    case.person(borrower, "borrower", times[0])
    _pay(
        w,
        rng,
        case,
        lender,
        borrower.checking,
        at=times[0],
        cents=cents,
        role="loan",
        channel="p2p",
    )
    for at, part in zip(times[1:], _parts(rng, cents, len(times) - 1), strict=True):
        case.person(borrower, "borrower", at)
        _pay(
            w,
            rng,
            case,
            borrower,
            lender.checking,
            at=at,
            cents=part,
            role="repayment",
            channel="p2p",
        )


def periodic(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    """The same amount every few days: pocket money, an instalment, a standing order."""
    pair = members(w, rng, 2)
    if len(pair) < 2:
        return
    payer, payee = pair
    window = case_window(rng, start, end, low_days=7)
    # at least two payments: the period fits the window twice over
    fits = [d * DAY for d in (1, 2, 3, 7, 7, 14) if d * DAY <= window.length / 2]
    every = rng.choice(fits or [window.length / 3])
    cents = _amount(rng, payer.currency, 10, 400)
    at = window.start + rng.uniform(0, min(every, window.length / 2))
    while at < window.end:
        case.person(payer, "payer", at)
        case.person(payee, "payee", at)
        _pay(w, rng, case, payer, payee.checking, at=at, cents=cents, role="instalment")
        at += every + rng.uniform(-1, 1) * HOUR


def _parts(rng: random.Random, cents: int, count: int) -> list[int]:
    if count == 1:
        return [cents]
    share = cents // count
    return [share] * (count - 1) + [cents - share * (count - 1)]
