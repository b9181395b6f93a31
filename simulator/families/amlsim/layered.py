"""AMLSim bipartite, stack, scatter-gather and gather-scatter: layered money flows.

bipartite: originators each pay some of the beneficiaries (every account in at least
one edge); stack: two bipartite layers, originators -> intermediaries ->
beneficiaries, the second layer after the first; scatter_gather: one originator ->
intermediaries -> one beneficiary; gather_scatter: originators -> one hub -> many
beneficiaries. Intermediaries pass on what they received minus a margin, split
unevenly. size = accounts in the pattern (3-15 by default).
"""

from __future__ import annotations

import random

from fraudgraph.simulator.families.amlsim.common import (
    Amounts,
    Style,
    Window,
    accounts_in_case,
    case_window,
    keep_margin,
    members,
    pay,
    phases,
    schedule,
    split,
    style,
)
from fraudgraph.simulator.typologies.base import Case, Reveal
from fraudgraph.simulator.world import DAY, Person, World

SPAN = 30 * DAY

Edge = tuple[Person, Person]


def _edges(rng: random.Random, payers: list[Person], payees: list[Person]) -> list[Edge]:
    """A random bipartite graph in which every payer and every payee has an edge."""
    density = rng.uniform(0.4, 1.0)
    edges = [(a, b) for a in payers for b in payees if rng.random() < density]
    for a in payers:
        if not any(e[0] is a for e in edges):
            edges.append((a, rng.choice(payees)))
    for b in payees:
        if not any(e[1] is b for e in edges):
            edges.append((rng.choice(payers), b))
    return edges


def _layer(
    w: World,
    rng: random.Random,
    case: Case,
    edges: list[tuple[Person, Person, int]],
    *,
    window: Window,
    how: Style,
    roles: tuple[str, str],
) -> dict[int, int]:
    """Pay each (payer, payee, cents) inside the window; returns cents received per payee."""
    received: dict[int, int] = {}
    order = list(edges)
    rng.shuffle(order)
    for (payer, payee, cents), at in zip(
        order, schedule(rng, window, len(order), how.schedule), strict=True
    ):
        case.person(payer, roles[0], at)
        case.person(payee, roles[1], at)
        row = pay(w, rng, case, payer, payee, at=at, cents=cents, role="layer", channel=how.channel)
        received[payee.customer_id] = received.get(payee.customer_id, 0) + int(row.amount * 100)
    return received


def _onward(
    rng: random.Random,
    payers: list[Person],
    edges: list[Edge],
    received: dict[int, int],
    how: Style,
) -> list[tuple[Person, Person, int]]:
    """Each intermediary forwards what it received minus its margin, split over its edges."""
    out: list[tuple[Person, Person, int]] = []
    for payer in payers:
        targets = [e[1] for e in edges if e[0] is payer]
        kept = keep_margin(rng, received.get(payer.customer_id, 0), how.margin)
        out.extend(
            zip([payer] * len(targets), targets, split(rng, kept, len(targets)), strict=True)
        )
    return out


def _sizes(rng: random.Random, total: int, layers: int) -> list[int]:
    """Split `total` accounts into `layers` non-empty layers at random."""
    cuts = sorted(rng.sample(range(1, total), layers - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def bipartite(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    group = members(w, rng, accounts_in_case(rng, size, 4))
    if len(group) < 4:
        return
    cut = rng.randint(2, len(group) - 2)
    payers, payees = group[:cut], group[cut:]
    how = style(rng)
    amounts = Amounts(rng, group[0].currency)
    edges = [(a, b, amounts.draw(rng)) for a, b in _edges(rng, payers, payees)]
    window = case_window(rng, start, end)
    _layer(w, rng, case, edges, window=window, how=how, roles=("originator", "beneficiary"))
    case.reveals.append(Reveal("confirmed_fraud", account_id=payers[0].checking))


def stack(w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int) -> None:
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    a, b, _ = _sizes(rng, len(group), 3)
    first, middle, last = group[:a], group[a : a + b], group[a + b :]
    _layers(w, rng, case, _window(rng, start, end), (first, middle, last))


def scatter_gather(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    _layers(w, rng, case, _window(rng, start, end), (group[:1], group[1:-1], group[-1:]))


def gather_scatter(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    group = members(w, rng, accounts_in_case(rng, size))
    if len(group) < 3:
        return
    cut = rng.randint(1, len(group) - 2)
    layers = (group[:cut], group[cut : cut + 1], group[cut + 1 :])
    _layers(w, rng, case, _window(rng, start, end), layers)


def _window(rng: random.Random, start: float, end: float) -> Window:
    return case_window(rng, start, end, low_days=2)  # two layers: at least a day each


def _layers(
    w: World,
    rng: random.Random,
    case: Case,
    window: Window,
    layers: tuple[list[Person], list[Person], list[Person]],
) -> None:
    """first -> middle, then middle -> last (each edge set bipartite, layer 2 after layer 1)."""
    first, middle, last = layers
    how = style(rng)
    one, two = phases(rng, window, 2)
    amounts = Amounts(rng, first[0].currency)
    inbound = [(a, b, amounts.draw(rng)) for a, b in _edges(rng, first, middle)]
    received = _layer(
        w, rng, case, inbound, window=one, how=how, roles=("originator", "intermediary")
    )
    outbound = _onward(rng, middle, _edges(rng, middle, last), received, how)
    _layer(w, rng, case, outbound, window=two, how=how, roles=("intermediary", "beneficiary"))
    case.reveals.append(Reveal("confirmed_fraud", account_id=middle[0].checking))
