"""Following money between accounts of this bank: which inbound transfer an outgoing
one passes on, and the trails that result. Used by the money-flow detectors.

Only money that moved counts: a declined or reversed transfer moved nothing. Every
question is asked strictly before the transfer that is being explained, so a trail
found on replay is the trail that was visible when the last transfer was made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fraudgraph.alerts.model import Entity
from fraudgraph.detection.context import Context
from fraudgraph.detection.history import TRANSFER_CHANNELS, Txn

MOVED = ("posted", "pending")


def moved(txn: Txn) -> bool:
    return txn.status in MOVED


def internal_transfer(txn: Txn) -> bool:
    """A transfer that moved money to another account of this bank."""
    # The channel test spelled out (not the `is_transfer` property): asked of every
    # payment of the windows most relay rules read, per event.
    return (
        txn.channel in TRANSFER_CHANNELS and txn.counterparty_account_id is not None and moved(txn)
    )


@dataclass(frozen=True, slots=True)
class PassOn:
    """How an outgoing transfer relates to the inbound one it passes on.

    kept: the share of the inbound amount that went on (1 - the intermediary's cut);
    max_gap_ms: how long the intermediary may hold the money.
    """

    kept_min: float
    kept_max: float
    max_gap_ms: int

    def matches(self, inbound: Txn, outbound: Txn) -> bool:
        if inbound.currency != outbound.currency or inbound.amount <= 0:
            return False
        if not 0 <= outbound.at - inbound.at <= self.max_gap_ms:
            return False
        return self.kept_min <= outbound.amount / inbound.amount <= self.kept_max


def feeders(ctx: Context, txn: Txn, rule: PassOn, avoid: Iterable[int] = ()) -> list[Txn]:
    """The inbound transfers of `txn`'s payer that `txn` passes on, latest first.

    `avoid`: payer accounts already on the trail (a trail does not loop back).
    """
    skip = set(avoid)
    found = [
        inbound
        for inbound in ctx.received(txn.account_id, txn.at - rule.max_gap_ms, txn.at)
        if (inbound.at, inbound.txn_id) < (txn.at, txn.txn_id)
        and internal_transfer(inbound)
        and inbound.account_id not in skip
        and inbound.account_id != txn.account_id
        and rule.matches(inbound, txn)
    ]
    return sorted(found, key=lambda t: (t.at, t.txn_id), reverse=True)


def trail_back(ctx: Context, txn: Txn, rule: PassOn, max_hops: int) -> list[Txn]:
    """The transfers that led to `txn`, oldest first, ending with `txn` itself.

    Each step takes the latest inbound transfer the payer passed on; the walk stops
    where no inbound transfer matches (the placement) or after `max_hops` steps.
    """
    trail = [txn]
    accounts = {txn.account_id}
    if txn.counterparty_account_id is not None:
        accounts.add(txn.counterparty_account_id)
    while len(trail) <= max_hops:
        found = feeders(ctx, trail[0], rule, avoid=accounts)
        if not found:
            break
        trail.insert(0, found[0])
        accounts.add(found[0].account_id)
    return trail


def loop_back(
    ctx: Context, txn: Txn, rule: PassOn, max_hops: int, min_hops: int = 3
) -> list[Txn] | None:
    """A trail of `min_hops` to `max_hops` transfers that starts at `txn`'s payee and
    ends with `txn` (money that came back where it started), oldest first; None if
    there is none.

    A depth-first walk over every matching feeder: the first loop found wins.
    Branching is tiny in practice (amount and time must match at every step).
    """
    origin = txn.counterparty_account_id
    if origin is None:
        return None

    def walk(trail: list[Txn], seen: set[int]) -> list[Txn] | None:
        if len(trail) >= max_hops:
            return None
        for inbound in feeders(ctx, trail[0], rule, avoid=seen - {origin}):
            if inbound.account_id == origin:
                if len(trail) + 1 >= min_hops:
                    return [inbound, *trail]
                continue  # too short a loop (a loan paid back): look for a longer one
            found = walk([inbound, *trail], seen | {inbound.account_id})
            if found is not None:
                return found
        return None

    return walk([txn], {txn.account_id, origin})


def trail_accounts(trail: Sequence[Txn]) -> list[int]:
    """Payer accounts in order, then the last payee if it is an account of this bank."""
    accounts = list(dict.fromkeys(t.account_id for t in trail))
    last = trail[-1].counterparty_account_id
    if last is not None and last not in accounts:
        accounts.append(last)
    return accounts


def owners(ctx: Context, accounts: Iterable[int]) -> dict[int, int]:
    """account -> owning customer, for the accounts whose owner is known."""
    return {
        account_id: info.customer_id
        for account_id, info in ctx.accounts(accounts).items()
        if info.customer_id is not None
    }


def party_entities(accounts: Sequence[tuple[int, str]], owner_of: dict[int, int]) -> list[Entity]:
    """Account and owner entities, each with the role its account plays."""
    entities: list[Entity] = []
    for account_id, role in accounts:
        entities.append(Entity("account", str(account_id), role))
        customer = owner_of.get(account_id)
        if customer is not None:
            entities.append(Entity("customer", str(customer), role))
    return entities
