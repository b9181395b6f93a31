"""AMLSim fan-in, fan-out and cycle: money between ordinary accounts over 1-30 days.

fan_in: many originators pay one beneficiary (each possibly more than once), which
sometimes passes the sum on to another bank; fan_out: one originator pays many
beneficiaries; cycle: A -> B -> ... -> A, hops strictly in time order, each member
keeping a small margin. size = accounts in the pattern (3-15 by default).
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.families.amlsim.common import (
    Amounts,
    accounts_in_case,
    case_window,
    keep_margin,
    members,
    pay,
    schedule,
    style,
)
from fraudgraph.simulator.typologies.base import Case, Reveal
from fraudgraph.simulator.world import DAY, HOUR, World

SPAN = 30 * DAY


def fan_in(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    beneficiary, originators = group[0], group[1:]
    how = style(rng)
    window = case_window(rng, start, end)
    amounts = Amounts(rng, beneficiary.currency)
    payers = [o for o in originators for _ in range(rng.randint(1, rng.choice((1, 2, 3))))]
    rng.shuffle(payers)
    total = 0
    last = window.start
    for payer, at in zip(payers, schedule(rng, window, len(payers), how.schedule), strict=True):
        case.person(payer, "originator", at)
        case.person(beneficiary, "beneficiary", at)
        row = pay(
            w,
            rng,
            case,
            payer,
            beneficiary,
            at=at,
            cents=amounts.draw(rng),
            role="deposit",
            channel=how.channel,
        )
        total += int(row.amount * 100)
        last = at
    if rng.random() < 0.5:  # integration: the sum leaves for another bank
        at = min(last + rng.uniform(0.5, 48) * HOUR, end - 60)
        cents = keep_margin(rng, total, how.margin)
        row = act.transfer(w, rng, beneficiary, at, cents, to_iban=w.external_iban())
        case.txn(row, "cash_out")
    case.reveals.append(Reveal("confirmed_fraud", account_id=beneficiary.checking))


def fan_out(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    originator, beneficiaries = group[0], group[1:]
    how = style(rng)
    window = case_window(rng, start, end)
    amounts = Amounts(rng, originator.currency)
    payees = [b for b in beneficiaries for _ in range(rng.randint(1, rng.choice((1, 2, 3))))]
    rng.shuffle(payees)
    for payee, at in zip(payees, schedule(rng, window, len(payees), how.schedule), strict=True):
        case.person(originator, "originator", at)
        case.person(payee, "beneficiary", at)
        pay(
            w,
            rng,
            case,
            originator,
            payee,
            at=at,
            cents=amounts.draw(rng),
            role="payout",
            channel=how.channel,
        )
    case.reveals.append(Reveal("confirmed_fraud", account_id=originator.checking))


def cycle(w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int) -> None:
    ring = members(w, rng, accounts_in_case(rng, size))
    if len(ring) < 3:
        return
    how = style(rng)
    window = case_window(rng, start, end)
    rounds = rng.choice((1, 1, 2))
    hops = len(ring) * rounds
    # A cycle is causal whatever the schedule: each hop after the one that funded it.
    kind = "random" if how.schedule in ("unordered", "simultaneous") else how.schedule
    times = schedule(rng, window, hops, kind)
    cents = Amounts(rng, ring[0].currency, 150, 1500).draw(rng)
    for hop, at in enumerate(times):
        payer, payee = ring[hop % len(ring)], ring[(hop + 1) % len(ring)]
        case.person(payer, "member", at)
        case.person(payee, "member", at)
        pay(w, rng, case, payer, payee, at=at, cents=cents, role="hop", channel=how.channel)
        cents = keep_margin(rng, cents, how.margin)
    case.reveals.append(Reveal("confirmed_fraud", account_id=ring[0].checking))
